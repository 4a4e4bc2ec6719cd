package projection

// SinkOf returns the sink a Runner hands to its source, for tests that
// deliver records by hand.
func SinkOf(r *Runner) Sink { return sink{r} }
