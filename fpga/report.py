import json
def load_report(path):
    return json.loads(open(path).read())
def summarize(report, **kw):
    return report
