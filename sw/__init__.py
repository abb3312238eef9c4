"""Software: the golden model, the compiler and the runtime."""
