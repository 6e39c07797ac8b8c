package server

// InlineWrites switches the read loop's writes, for the benchmarks.
var InlineWrites = &inlineWrites
