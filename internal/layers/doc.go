// Package layers holds no code: its test pins which klpack packages may
// link which, so that the layering DESIGN.md describes cannot drift.
package layers
