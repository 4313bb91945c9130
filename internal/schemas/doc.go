// Package schemas holds the tests that keep docs/schemas true: every
// JSON Schema there compiles with a real validator
// (github.com/santhosh-tekuri/jsonschema), every document the built klpack
// prints validates against the schema its command names, every committed
// document under testdata that claims a schema validates against it, and
// each schema refuses what klpack never writes. It has no code of its own:
// the schemas are data, read by editors and CI as much as by these tests.
package schemas
