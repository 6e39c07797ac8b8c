package server

// InlineWrites switches the read loop's writes, for the benchmarks.
var InlineWrites = &inlineWrites

// EventLoop switches the event loop off, for the tests of the goroutine
// path.
var EventLoop = &eventLoop
