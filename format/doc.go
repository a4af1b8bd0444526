// Package format owns every byte of mk that a person or a script sees: tables,
// JSON documents, records as JSON lines, --format templates, input line
// parsing, diagnostics, exit codes and progress lines. Other packages return
// values and errors; they never print.
//
// # Output rules
//
// These rules hold for every mk command. A change that breaks one of them
// breaks somebody's shell script.
//
//   - Data goes to stdout, and only data: records, tables, JSON documents.
//     Anything about the run (errors, warnings, progress, notes) goes to stderr.
//   - Every diagnostic is one line starting with "mk: ". Errors read
//     "mk: <what failed>: <why>", warnings "mk: warning: <text>". The text is
//     lower-case first (acronyms such as ISR or EOF stay as they are), has no
//     trailing period, and says what to do when that is not obvious. Errorf,
//     Warnf and Infof write these lines; OneLine makes any error text fit.
//   - Nothing decorative is written when the stream is not a terminal: no
//     progress lines, no carriage returns, no colours, no spinners. Progress
//     writes only when stderr is a terminal (and TERM is not "dumb").
//   - Exit codes are a fixed, documented list (exit.go). A command returns an
//     error carrying its code; main prints it with Report and exits with the
//     code Report returns.
//   - Tables: upper-case headers, left-aligned columns separated by at least
//     three spaces, no border lines, no trailing spaces, "-" for a missing
//     value, numbers as plain integers (bytes in bytes, times in
//     milliseconds) so that awk, sort -n and cut work on them. Human-friendly
//     sizes and durations (human.go) appear only on stderr.
//   - Every describe and list command has -o json: one JSON document, two-space
//     indented, with a trailing newline, field names in snake_case.
//   - Records printed with -o json are one JSON object per line (recordjson.go)
//     and `mk produce --input json` reads exactly those lines back, so a topic
//     can be copied with a pipe. Keys, values and headers that are not valid
//     UTF-8 are written in base64 and marked as such; nothing is lost.
//   - Text input (`mk produce`) is one record per line (input.go).
package format
