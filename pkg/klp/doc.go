// Package klp is the data model every klpack stage shares: a scanned
// Module with its Patches, Objects, Funcs, States and Callbacks, and the
// kernel's own rules about them that every stage needs (Sympos, FuncKey,
// KernelRelease, the layers). Its JSON form is the versioned
// klpack.scan/v1 contract (ScanSchema).
//
// # Versions of the JSON documents
//
// klpack's documents (klpack.scan/v1, klpack.deployed/v1, klpack.plan/v1,
// klpack.simulate/v1, klpack.check/v1) follow one policy, so that hosts
// and builders need not upgrade together:
//   - A writer may add an optional field within v1. It never renames,
//     retypes or removes a field, nor changes what one means, without a
//     new schema version.
//   - A reader ignores the fields it does not know: an older host reads a
//     newer builder's document. The deployed-state reader also lists them
//     (deploy.State.Ignored), so that a typo in a hand-edited file is
//     seen. Every reader refuses a key repeated in an object and a key
//     that differs from a known field only in case (encoding/json would
//     keep the last value, or take the key for that field), naming the
//     file and the key's JSON path (internal/strictjson).
//   - A field missing from a document is its zero value: a newer reader
//     reads an older document.
//   - A reader refuses a document of another schema version. The one
//     exception: klpack.scan/v2 (scan --no-hash) is v1 with every sha256
//     empty, and the record readers (ParseScan) take both.
//
// Hand-written inputs (scenarios, acknowledgements, release manifests)
// are no such documents: an unknown key there is a typo, refused with its
// line, as are a repeated key and a second YAML document.
package klp
