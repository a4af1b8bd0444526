package logdir

// AppendHook, when set, is called by every append of a leader (Append)
// with the partition lock held, after the fence check and before anything
// is written. Tests set it to stop a broker in the middle of its own
// append (issue 9's zombie leader); nil otherwise.
var AppendHook func(dir string)
