package fleet

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// Bounds of an inventory. Memory grows with the distinct combinations,
// never with the hosts: a combination keeps its count and MaxExamples
// host IDs.
const (
	// MaxLine is the longest line read: a host's patches list is a few
	// hundred bytes, its whole capture (the state form) tens of KiB.
	MaxLine = 1 << 20
	// DefaultMaxCombinations bounds the distinct combinations an
	// inventory may hold (ReadOptions.MaxCombinations overrides it). Each
	// is checked once; a fleet with more is better grouped coarser in
	// its warehouse first.
	DefaultMaxCombinations = 100_000
	// MaxExamples is how many host IDs a combination keeps.
	MaxExamples = 3
	// maxHosts bounds the hosts of one line and of the inventory: no
	// fleet is larger, and sums of counts stay far from overflow.
	maxHosts = 1 << 40
	// maxIgnored bounds the list of unknown keys reported.
	maxIgnored = 16
	// chunkSize is what one worker parses at a time.
	chunkSize = 4 << 20
	// zstdWindowMax bounds the memory a zstd frame may make the decoder
	// take: zstd's own default allows 8 MiB windows for level 19, 128
	// MiB covers --long.
	zstdWindowMax = 128 << 20
)

// ErrTooManyCombinations is returned when an inventory holds more
// distinct combinations than ReadOptions.MaxCombinations.
var ErrTooManyCombinations = errors.New("too many distinct combinations")

// LineError is an inventory line that cannot be read: bad JSON, a field
// of the wrong type, a missing or contradictory field.
type LineError struct {
	Path string
	Line int64 // 1-based
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("file %s: line %d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Example is a host of a combination, and the line that named it.
type Example struct {
	Host string `json:"host"`
	Line int64  `json:"line"`
}

// Combination is one distinct deployed set: a kernel build and the
// patches on it (Patches, the patches form) or the host's whole capture
// (State, the state form).
type Combination struct {
	Kernel  string  `json:"kernel"`
	BuildID string  `json:"build_id,omitempty"`
	Patches []Patch `json:"patches"`
	// State is the capture of the state form; nil in the patches form.
	State *deploy.State `json:"-"`
	// Hosts counts the hosts that run it; Examples are the first
	// MaxExamples of them by line (none for lines that give "hosts": N).
	Hosts    int64     `json:"hosts"`
	Examples []Example `json:"examples"`
	// FirstLine is the first line that names it.
	FirstLine int64 `json:"first_line"`
	// unknownTransition says, by index of Patches, whether the line left
	// the patch's transition unsaid (unknown, not false).
	unknownTransition []bool
	key               string
}

// Inventory is what a fleet inventory holds, grouped.
type Inventory struct {
	Path  string
	Lines int64 // non-blank lines
	Hosts int64
	// Combinations are sorted by FirstLine, grouped by the strings the
	// lines give: Check merges those that resolve to one deployed set
	// (Merge).
	Combinations []*Combination
	// Ignored lists the keys the reader does not know (a newer writer's
	// or a warehouse's extra column), at most 16.
	Ignored []string
}

// ReadOptions bound and observe a read.
type ReadOptions struct {
	// MaxCombinations is DefaultMaxCombinations when 0.
	MaxCombinations int
	// Workers parse chunks side by side; GOMAXPROCS when 0.
	Workers int
	// Progress is told the compressed bytes consumed; safe for
	// concurrent use, nil for none.
	Progress func(n int64)
}

// Read reads the inventory at path as ParseInventory does. A path that
// is not a regular file is refused: a FIFO or device would block or
// never end (a stream goes through ParseInventory, as check --fleet -
// passes its stdin).
func Read(ctx context.Context, path string, o ReadOptions) (*Inventory, error) {
	f, _, err := safeio.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	return ParseInventory(ctx, f, path, o)
}

// ParseInventory reads JSON Lines from r, plain, gzip or zstd (told by
// their magic bytes), and groups the hosts into combinations. name is
// what errors call the input. Errors about a line are *LineError.
func ParseInventory(ctx context.Context, r io.Reader, name string, o ReadOptions) (*Inventory, error) {
	if o.MaxCombinations <= 0 {
		o.MaxCombinations = DefaultMaxCombinations
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Progress != nil {
		r = &countingReader{r: r, add: o.Progress}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("file %s: gzip: %w", name, err)
		}
		src = gz
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zd, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdWindowMax))
		if err != nil {
			return nil, fmt.Errorf("file %s: zstd: %w", name, err)
		}
		defer zd.Close()
		src = zd
	}
	g := &grouper{name: name, o: o, combos: map[string]*Combination{}, errLine: -1}
	return g.run(ctx, src)
}

type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

// chunk is whole lines of the input and the number of the first.
type chunk struct {
	data  []byte
	first int64
}

// grouper reads chunks on one goroutine and parses them on Workers.
type grouper struct {
	name string
	o    ReadOptions

	mu      sync.Mutex
	combos  map[string]*Combination
	lines   int64
	hosts   int64
	ignored []string
	err     error
	errLine int64 // the line of err; -1 for none
}

// fail records err at line, keeping the earliest: with chunks parsed
// side by side, the error reported is still the first in the file.
func (g *grouper) fail(line int64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.errLine < 0 || line < g.errLine {
		g.err, g.errLine = err, line
	}
}

// failedBefore says whether an error is known at a line before line.
func (g *grouper) failedBefore(line int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.errLine >= 0 && g.errLine < line
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func (g *grouper) run(ctx context.Context, src io.Reader) (*Inventory, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan chunk, g.o.Workers)
	var wg sync.WaitGroup
	for range g.o.Workers {
		wg.Go(func() { g.worker(ctx, chunks) })
	}
	g.read(ctx, src, chunks)
	close(chunks)
	wg.Wait()
	if g.err != nil {
		return nil, g.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inv := &Inventory{Path: g.name, Lines: g.lines, Hosts: g.hosts, Ignored: g.ignored}
	for _, c := range g.combos {
		inv.Combinations = append(inv.Combinations, c)
	}
	slices.SortFunc(inv.Combinations, func(a, b *Combination) int { return cmp.Compare(a.FirstLine, b.FirstLine) })
	return inv, nil
}

// read cuts src into chunks of whole lines. A line longer than MaxLine
// fails here when no newline is in sight, else in the worker.
func (g *grouper) read(ctx context.Context, src io.Reader, out chan<- chunk) {
	var carry []byte
	line := int64(1)
	for ctx.Err() == nil {
		bp := bufPool.Get().(*[]byte)
		b := append((*bp)[:0], carry...)
		b, err := fill(src, b)
		eof := err == io.EOF
		if err != nil && !eof {
			g.fail(line+int64(bytes.Count(b, []byte{'\n'})), &LineError{Path: g.name, Line: line + int64(bytes.Count(b, []byte{'\n'})), Err: fmt.Errorf("read: %w", err)})
			return
		}
		cut := len(b)
		if !eof {
			cut = bytes.LastIndexByte(b, '\n') + 1
			if cut == 0 {
				g.fail(line, &LineError{Path: g.name, Line: line, Err: fmt.Errorf("longer than %d bytes", MaxLine)})
				return
			}
		}
		carry = append(carry[:0], b[cut:]...)
		c := chunk{data: b[:cut], first: line}
		line += int64(bytes.Count(c.data, []byte{'\n'}))
		if len(c.data) > 0 {
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
		if eof {
			return
		}
	}
}

// fill reads into b up to its capacity, returning io.EOF at the clean
// end of src. Unlike io.ReadFull it passes a decompressor's own
// io.ErrUnexpectedEOF (a truncated gzip) on as the error it is.
func fill(src io.Reader, b []byte) ([]byte, error) {
	for len(b) < cap(b) {
		n, err := src.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// local is what one worker gathers before merging.
type local struct {
	combos  map[string]*Combination
	lines   int64
	hosts   int64
	ignored []string
	key     []byte
	order   []int
	sum     [sha256.Size]byte
	// rawStates maps the hash of a state document's bytes to its key.
	rawStates map[[sha256.Size]byte]string
}

func (g *grouper) worker(ctx context.Context, in <-chan chunk) {
	var p parser
	loc := &local{combos: map[string]*Combination{}}
	for c := range in {
		if ctx.Err() != nil || g.failedBefore(c.first) {
			continue
		}
		if err := g.parseChunk(&p, loc, c); err != nil {
			continue
		}
	}
	g.merge(loc)
}

func (g *grouper) parseChunk(p *parser, loc *local, c chunk) error {
	data := c.data
	n := c.first
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		var ln []byte
		if end < 0 {
			ln, data = data, nil
		} else {
			ln, data = data[:end], data[end+1:]
		}
		if err := g.parseLine(p, loc, ln, n); err != nil {
			g.fail(n, &LineError{Path: g.name, Line: n, Err: err})
			return err
		}
		n++
	}
	bufPool.Put(&c.data)
	return nil
}

func (g *grouper) parseLine(p *parser, loc *local, ln []byte, n int64) error {
	if len(ln) > MaxLine {
		return fmt.Errorf("longer than %d bytes", MaxLine)
	}
	if len(bytes.TrimSpace(ln)) == 0 {
		return nil // a blank line, such as a final one
	}
	if err := p.parse(ln); err != nil {
		return err
	}
	l := &p.l
	for _, k := range l.ignored {
		if len(loc.ignored) < maxIgnored && !slices.Contains(loc.ignored, k) {
			loc.ignored = append(loc.ignored, k)
		}
	}
	hosts, err := checkLine(l)
	if err != nil {
		return err
	}
	var c *Combination
	if l.hasState {
		var err error
		if c, err = stateCombination(loc, l, n); err != nil {
			return err
		}
	} else {
		loc.key = patchesKey(loc, l)
		c = loc.combos[string(loc.key)]
		if c == nil {
			// Names are checked once per combination: a line with the
			// same key has the same names.
			for i := range l.patches {
				if err := klp.CheckModuleName(string(l.patches[i].module)); err != nil {
					return fmt.Errorf("patches[%d]: %w", i, err)
				}
			}
			c = newCombination(loc, l, n)
		}
	}
	if c.key == "" {
		if len(loc.combos) >= g.o.MaxCombinations {
			return fmt.Errorf("%w: more than %d (group the inventory coarser, or raise the bound)", ErrTooManyCombinations, g.o.MaxCombinations)
		}
		c.key = string(loc.key)
		loc.combos[c.key] = c
	}
	if loc.hosts > maxHosts-hosts {
		return fmt.Errorf("more than %d hosts in all", int64(maxHosts))
	}
	c.Hosts += hosts
	loc.hosts += hosts
	loc.lines++
	if l.hasHost && len(c.Examples) < MaxExamples {
		c.Examples = append(c.Examples, Example{Host: string(l.host), Line: n})
	}
	return nil
}

// maxRawStates bounds a worker's memo of state documents by their bytes.
const maxRawStates = 4096

// stateCombination is the combination of a state-form line. Decoding a
// capture is the slow part of a read, and the hosts of one combination
// ship the same bytes: a capture already met is found by the hash of its
// bytes, and only a new one is decoded (strictly, as a state file is) and
// keyed by the hash of its canonical encoding.
func stateCombination(loc *local, l *line, n int64) (*Combination, error) {
	raw := sha256.Sum256(l.state)
	if key, ok := loc.rawStates[raw]; ok {
		c := loc.combos[key]
		if c != nil && l.hasKernel && string(l.kernel) != c.Kernel {
			return nil, fmt.Errorf("kernel %q, the state's is %q", l.kernel, c.Kernel)
		}
		if c != nil && c.BuildID == strings.ToLower(string(l.buildID)) {
			loc.key = append(loc.key[:0], key...)
			return c, nil
		}
	}
	st, err := deploy.DecodeState(l.state, "")
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if l.hasKernel && string(l.kernel) != st.Kernel.Release {
		return nil, fmt.Errorf("kernel %q, the state's is %q", l.kernel, st.Kernel.Release)
	}
	var buf bytes.Buffer
	if err := deploy.EncodeState(&buf, st); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	loc.sum = sha256.Sum256(buf.Bytes())
	loc.key = append(append(append(loc.key[:0], 'S'), bytes.ToLower(l.buildID)...), loc.sum[:]...)
	loc.key = binary.AppendUvarint(loc.key, uint64(len(l.buildID)))
	if c := loc.combos[string(loc.key)]; c != nil {
		return c, nil
	}
	c := &Combination{Kernel: st.Kernel.Release, BuildID: strings.ToLower(string(l.buildID)), State: st, FirstLine: n, Patches: []Patch{}}
	for _, p := range st.Patches {
		c.Patches = append(c.Patches, Patch{Module: p.Name, Enabled: p.Enabled, LoadOrder: p.LoadOrder, Transition: p.Transition != nil && *p.Transition})
	}
	if loc.rawStates == nil {
		loc.rawStates = map[[sha256.Size]byte]string{}
	}
	if len(loc.rawStates) < maxRawStates {
		// Keyed once the combination is stored under loc.key (parseLine).
		loc.rawStates[raw] = string(loc.key)
	}
	return c, nil
}

// checkLine checks what the JSON types cannot say, and returns the
// hosts the line stands for.
func checkLine(l *line) (int64, error) {
	hosts := int64(1)
	switch {
	case l.hasHost && l.hasHosts:
		return 0, errors.New(`both "host" and "hosts": a line is one host or a count of them`)
	case !l.hasHost && !l.hasHosts:
		return 0, errors.New(`no "host" (an ID) or "hosts" (a count)`)
	case l.hasHost && len(l.host) == 0:
		return 0, errors.New(`"host": empty ID`)
	case l.hasHosts && (l.hosts < 1 || l.hosts > maxHosts):
		return 0, fmt.Errorf(`"hosts": want 1 to %d`, int64(maxHosts))
	case l.hasHosts:
		hosts = l.hosts
	}
	switch {
	case l.hasPatches && l.hasState:
		return 0, errors.New(`both "patches" and "state": give one`)
	case !l.hasPatches && !l.hasState:
		return 0, errors.New(`no "patches" or "state"`)
	case l.hasPatches && !l.hasKernel:
		return 0, errors.New(`"patches" without "kernel"`)
	case l.hasKernel && len(l.kernel) == 0:
		return 0, errors.New(`"kernel": empty release`)
	}
	if l.hasBuild {
		if len(l.buildID) == 0 || len(l.buildID) > 128 {
			return 0, fmt.Errorf(`"build_id": want 1 to 128 hex digits`)
		}
		for _, c := range l.buildID {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return 0, fmt.Errorf(`"build_id": %q is not hex`, l.buildID)
			}
		}
	}
	for i := range l.patches {
		rp := &l.patches[i]
		for _, f := range []struct {
			bit  uint8
			name string
		}{{seenModule, "module"}, {seenPackage, "package"}, {seenVersion, "version"}, {seenEnabled, "enabled"}, {seenLoadOrder, "load_order"}} {
			if rp.seen&f.bit == 0 {
				return 0, fmt.Errorf("patches[%d]: no %q", i, f.name)
			}
		}
		if len(rp.pkg) == 0 || len(rp.version) == 0 {
			return 0, fmt.Errorf("patches[%d]: empty package or version", i)
		}
		if rp.loadOrder > 1<<20 {
			// The deployed state's rule: 0 or more (the parser refuses a
			// sign), and no kernel stacks a million patches.
			return 0, fmt.Errorf("patches[%d]: load_order %d, want 0 to %d", i, rp.loadOrder, 1<<20)
		}
		for j := range i {
			switch {
			case string(l.patches[j].module) == string(rp.module):
				return 0, fmt.Errorf("patches[%d]: module %s listed twice", i, rp.module)
			case l.patches[j].loadOrder == rp.loadOrder:
				return 0, fmt.Errorf("patches[%d]: load_order %d given twice", i, rp.loadOrder)
			}
		}
	}
	return hosts, nil
}

// patchesKey is the canonical form of a patches line: the kernel, the
// build ID and the patches in load order, each length-prefixed so no
// two lists share one. Load orders are distinct, so the order is total.
func patchesKey(loc *local, l *line) []byte {
	loc.order = loc.order[:0]
	for i := range l.patches {
		loc.order = append(loc.order, i)
	}
	slices.SortFunc(loc.order, func(a, b int) int { return cmp.Compare(l.patches[a].loadOrder, l.patches[b].loadOrder) })
	k := append(loc.key[:0], 'P')
	put := func(b []byte) {
		k = binary.AppendUvarint(k, uint64(len(b)))
		k = append(k, b...)
	}
	put(l.kernel)
	k = binary.AppendUvarint(k, uint64(len(l.buildID)))
	for _, c := range l.buildID {
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A' // one build, however its hex is cased
		}
		k = append(k, c)
	}
	for _, i := range loc.order {
		rp := &l.patches[i]
		put(rp.module)
		put(rp.pkg)
		put(rp.version)
		flags := byte(0)
		if rp.enabled {
			flags |= 1
		}
		if rp.transition {
			flags |= 2
		}
		if rp.seen&seenTransition == 0 {
			flags |= 4
		}
		k = append(k, flags)
		k = binary.AppendUvarint(k, uint64(rp.loadOrder))
	}
	return k
}

func newCombination(loc *local, l *line, n int64) *Combination {
	c := &Combination{Kernel: string(l.kernel), BuildID: strings.ToLower(string(l.buildID)), FirstLine: n,
		Patches: make([]Patch, 0, len(l.patches)), unknownTransition: make([]bool, 0, len(l.patches))}
	for _, i := range loc.order {
		rp := &l.patches[i]
		c.Patches = append(c.Patches, Patch{Module: string(rp.module), Package: string(rp.pkg), Version: string(rp.version),
			Enabled: rp.enabled, Transition: rp.transition, LoadOrder: int(rp.loadOrder)})
		c.unknownTransition = append(c.unknownTransition, rp.seen&seenTransition == 0)
	}
	return c
}

// merge adds a worker's combinations to the whole.
func (g *grouper) merge(loc *local) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lines += loc.lines
	g.hosts += loc.hosts
	if g.hosts > maxHosts && (g.errLine < 0) {
		// Each worker stays within the bound; together they may not.
		g.err, g.errLine = &LineError{Path: g.name, Line: 1, Err: fmt.Errorf("more than %d hosts in all", int64(maxHosts))}, 1
	}
	for _, k := range loc.ignored {
		if len(g.ignored) < maxIgnored && !slices.Contains(g.ignored, k) {
			g.ignored = append(g.ignored, k)
		}
	}
	slices.Sort(g.ignored)
	for k, c := range loc.combos {
		have := g.combos[k]
		if have == nil {
			if len(g.combos) >= g.o.MaxCombinations && (g.errLine < 0 || c.FirstLine < g.errLine) {
				g.err = &LineError{Path: g.name, Line: c.FirstLine, Err: fmt.Errorf("%w: more than %d (group the inventory coarser, or raise the bound)", ErrTooManyCombinations, g.o.MaxCombinations)}
				g.errLine = c.FirstLine
			}
			g.combos[k] = c
			continue
		}
		// The first hosts by line, whichever worker met them.
		have.absorb(c)
	}
}

// absorb counts o's hosts in c, which keeps the first MaxExamples of
// both by line.
func (c *Combination) absorb(o *Combination) {
	c.Hosts += o.Hosts
	c.FirstLine = min(c.FirstLine, o.FirstLine)
	c.Examples = append(c.Examples, o.Examples...)
	slices.SortStableFunc(c.Examples, func(a, b Example) int { return cmp.Compare(a.Line, b.Line) })
	c.Examples = c.Examples[:min(len(c.Examples), MaxExamples)]
}
