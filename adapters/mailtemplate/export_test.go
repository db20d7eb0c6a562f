package mailtemplate

// Embedded is the embedded template set, for tests that copy it.
var Embedded = embedded
