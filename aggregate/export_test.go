package aggregate

// MarkSaved exposes markSaved to the package's external tests.
var MarkSaved = markSaved
