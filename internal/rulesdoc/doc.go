// Package rulesdoc keeps docs/rules and docs/kernel-models.md true to the
// code: its tests check that every rule in check.Rules has a page whose
// title states its ID, name and severity, that the index lists each rule
// once, and that every page's example is what a freshly built klpack
// prints, word for word, and its acknowledgement silences the finding.
// The package has no code of its own.
package rulesdoc
