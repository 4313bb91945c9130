// Package klp is the data model every klpack stage shares: a scanned
// Module with its Patches, Objects, Funcs, States and Callbacks. Its JSON
// form is the versioned klpack.scan/v1 contract (ScanSchema): add fields
// freely, but rename or retype one only with a new schema version.
package klp
