package deploy

import "github.com/klpack/klpack/pkg/klp"

// StateSchema names the version of the deployed-state document.
const StateSchema = "klpack.deployed/v1"

// Kernel models: which livepatch rules the target kernel follows.
const (
	ModelMainline   = "mainline"    // bool replace, as in every released kernel
	ModelHybrid     = "hybrid"      // RFC 2026-04: non-replaceable patches survive a replace
	ModelReplaceSet = "replace-set" // RFC 2026-05: replace acts within a u32 set
)

// Layers: how a release treats a patch module.
const (
	LayerCumulative = "cumulative"
	LayerOffBand    = "off-band"
)

// State is the set of livepatch modules deployed on a kernel, in load
// order.
type State struct {
	Schema  string   `json:"schema"`
	Kernel  Kernel   `json:"kernel"`
	Patches []*Patch `json:"patches"`
}

// Kernel identifies the target kernel.
type Kernel struct {
	Release string `json:"release"`
	// Model is one of the Model constants; empty means the default for
	// the release.
	Model string `json:"model,omitempty"`
}

// Patch is one deployed livepatch module: its scan record plus what the
// kernel says of it.
type Patch struct {
	klp.Module
	Enabled   bool `json:"enabled"`
	LoadOrder int  `json:"load_order"`
	// Transition is nil when unknown.
	Transition *bool `json:"transition,omitempty"`
	// Layer is one of the Layer constants, empty when not declared.
	Layer string `json:"layer,omitempty"`
}
