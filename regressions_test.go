package mqtt

// Regression tests for bugs found while writing the Connection's tests.
// Each states the bug as it was, how it was reproduced, and what is
// expected now.
