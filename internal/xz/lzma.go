package xz

// LZMA decoding, as LZMA2 chunks use it. The whole output of a block is
// one slice, which is also the dictionary: a match copies bytes from
// earlier in the same slice, and nothing wraps around.
//
// The range decoder's state lives in local variables of decodeChunk, the
// hot loop; the helpers below take and return it by value and are small
// enough for the compiler to inline, so it stays in registers.

const (
	probBits  = 11
	probInit  = 1 << (probBits - 1)
	moveBits  = 5
	topValue  = 1 << 24
	minMatch  = 2
	endPosIdx = 14  // first distance slot coded with direct bits and the aligner
	fullDists = 128 // distances below this have all their bits modelled
	alignBits = 4
	litStride = 0x400 // one literal coder: 0x300 probabilities, padded to a power of two
)

// lenProbs are the probabilities of a length coder.
type lenProbs struct {
	choice  uint16
	choice2 uint16
	low     [16 << 3]uint16 // [posState][3-bit tree]
	mid     [16 << 3]uint16
	high    [256]uint16
}

// probs are all the probabilities of an LZMA decoder. Arrays indexed by
// state have 16 entries (12 used) so that masking the index proves it in
// range.
type probs struct {
	isMatch    [16 << 4]uint16 // [state][posState]
	isRep      [16]uint16
	isRepG0    [16]uint16
	isRepG1    [16]uint16
	isRepG2    [16]uint16
	isRep0Long [16 << 4]uint16
	distSlot   [4 << 6]uint16 // [lenState][6-bit tree]
	distSpec   [128]uint16    // fullDists-endPosIdx (114) used
	align      [16]uint16
	matchLen   lenProbs
	repLen     lenProbs
	lit        [16][litStride]uint16 // [litState][0x300 used]
}

func fill(s []uint16) {
	for i := range s {
		s[i] = probInit
	}
}

func (l *lenProbs) reset() {
	l.choice = probInit
	l.choice2 = probInit
	fill(l.low[:])
	fill(l.mid[:])
	fill(l.high[:])
}

// reset sets every probability in use with nLit literal coders to ½.
func (p *probs) reset(nLit int) {
	fill(p.isMatch[:])
	fill(p.isRep[:])
	fill(p.isRepG0[:])
	fill(p.isRepG1[:])
	fill(p.isRepG2[:])
	fill(p.isRep0Long[:])
	fill(p.distSlot[:])
	fill(p.distSpec[:])
	fill(p.align[:])
	p.matchLen.reset()
	p.repLen.reset()
	for i := range nLit {
		fill(p.lit[i][:0x300])
	}
}

// lzma is the state of an LZMA decoder that carries from one LZMA2 chunk
// to the next.
type lzma struct {
	p                      probs
	state                  uint32
	rep0, rep1, rep2, rep3 uint32
	lc, lp, pb             uint32
	dictSize               uint32
	dictStart              int // output index where the dictionary begins
	in                     inBuf
}

// setProps sets lc, lp and pb from an LZMA2 properties byte.
func (z *lzma) setProps(b byte) bool {
	if b > (4*5+4)*9+8 {
		return false
	}
	lc := uint32(b) % 9
	b /= 9
	lp := uint32(b) % 5
	pb := uint32(b) / 5
	if lc+lp > 4 || pb > 4 {
		return false
	}
	z.lc, z.lp, z.pb = lc, lp, pb
	return true
}

// resetState starts a new LZMA state (not a new dictionary).
func (z *lzma) resetState() {
	z.p.reset(1 << (z.lc + z.lp))
	z.state = 0
	z.rep0, z.rep1, z.rep2, z.rep3 = 0, 0, 0, 0
}

// inBuf holds the compressed data of one LZMA chunk, at most 64 KiB.
// Indexing it with a uint16 needs no bounds check: reading past the data
// wraps around harmlessly, and the caller detects the overrun by counting.
type inBuf = [1 << 16]byte

// norm normalizes the range decoder: it reads a byte when the range gets
// small.
func norm(rng, code uint32, in *inBuf, ip int) (uint32, uint32, int) {
	if rng < topValue {
		rng <<= 8
		code = code<<8 | uint32(in[uint16(ip)])
		ip++
	}
	return rng, code, ip
}

// bit decodes a bit with probability *p without branching on its value:
// the right choice for bits that steer no control flow (trees).
func bit(rng, code uint32, p *uint16) (uint32, uint32, uint32) {
	pv := uint32(*p)
	bound := (rng >> probBits) * pv
	m := uint32((int64(code) - int64(bound)) >> 63) // all ones for a 0 bit
	rng = bound&m | (rng-bound)&^m
	code -= bound &^ m
	*p = uint16(pv - uint32(int32(pv-m&(1<<probBits-(1<<moveBits)+1))>>moveBits))
	return rng, code, m + 1
}

// literal decodes a literal with the probabilities t. While a bit is
// being decoded it loads the probabilities of both possible next bits, so
// the load is off the chain of dependent operations.
//
//go:noinline
func literal(rng, code uint32, in *inBuf, ip int, t *[litStride]uint16) (uint32, uint32, int, uint32) {
	sym := uint32(1)
	pv := uint32(t[1])
	for sym < 0x100 {
		rng, code, ip = norm(rng, code, in, ip)
		p0 := uint32(t[(sym<<1)&(litStride-1)])
		p1 := uint32(t[(sym<<1|1)&(litStride-1)])
		bound := (rng >> probBits) * pv
		m := uint32((int64(code) - int64(bound)) >> 63) // all ones for a 0 bit
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		t[sym&(litStride-1)] = uint16(pv - uint32(int32(pv-m&(1<<probBits-(1<<moveBits)+1))>>moveBits))
		sym = sym<<1 | (m + 1)
		pv = p0&m | p1&^m
	}
	return rng, code, ip, sym
}

// matchedLiteral decodes a literal after a match: the byte at rep0, mb,
// steers the probabilities until the first bit that differs from it. Like
// literal, it loads both possible next probabilities ahead.
//
//go:noinline
func matchedLiteral(rng, code uint32, in *inBuf, ip int, t *[litStride]uint16, mb uint32) (uint32, uint32, int, uint32) {
	sym := uint32(1)
	offs := uint32(0x100)
	mb <<= 1
	mbit := mb & offs
	mb <<= 1
	i := offs + mbit + sym
	pv := uint32(t[i&(litStride-1)])
	for sym < 0x100 {
		rng, code, ip = norm(rng, code, in, ip)
		// The next index after a 0 bit and after a 1 bit: offs stays
		// while the bits agree, and is cleared once they differ.
		s0 := sym << 1
		o0 := offs &^ mbit
		o1 := offs & mbit
		m0 := mb & o0
		m1 := mb & o1
		i0 := o0 + m0 + s0
		i1 := o1 + m1 + s0 + 1
		p0 := uint32(t[i0&(litStride-1)])
		p1 := uint32(t[i1&(litStride-1)])

		bound := (rng >> probBits) * pv
		m := uint32((int64(code) - int64(bound)) >> 63) // all ones for a 0 bit
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		t[i&(litStride-1)] = uint16(pv - uint32(int32(pv-m&(1<<probBits-(1<<moveBits)+1))>>moveBits))
		sym = s0 | (m + 1)
		pv = p0&m | p1&^m
		i = i0&m | i1&^m
		offs = o0&m | o1&^m
		mbit = m0&m | m1&^m
		mb <<= 1
	}
	return rng, code, ip, sym
}

// tree decodes a bit tree: t has a power of two entries, of which 1 to
// len(t)-1 are the probabilities; the result is in [len(t), 2*len(t)).
// Like literal, it loads both possible next probabilities ahead.
//
//go:noinline
func tree(rng, code uint32, in *inBuf, ip int, t []uint16) (uint32, uint32, int, uint32) {
	mask := uint32(len(t) - 1)
	sym := uint32(1)
	pv := uint32(t[1&mask])
	for sym <= mask {
		rng, code, ip = norm(rng, code, in, ip)
		p0 := uint32(t[(sym<<1)&mask])
		p1 := uint32(t[(sym<<1|1)&mask])
		bound := (rng >> probBits) * pv
		m := uint32((int64(code) - int64(bound)) >> 63) // all ones for a 0 bit
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		t[sym&mask] = uint16(pv - uint32(int32(pv-m&(1<<probBits-(1<<moveBits)+1))>>moveBits))
		sym = sym<<1 | (m + 1)
		pv = p0&m | p1&^m
	}
	return rng, code, ip, sym
}

// State transitions.
func stateLit(s uint32) uint32 {
	switch {
	case s < 4:
		return 0
	case s < 10:
		return s - 3
	}
	return s - 6
}

// decodeChunk decodes one LZMA chunk: the compressed bytes src (including
// the 5 range decoder initialization bytes) into out[pos:], which must end
// exactly where the chunk does. It reports whether the chunk was valid.
func (z *lzma) decodeChunk(out []byte, pos int, src []byte) bool {
	if len(src) < 5 || len(src) > len(z.in) || src[0] != 0 {
		return false
	}
	rng := uint32(0xFFFFFFFF)
	code := uint32(src[1])<<24 | uint32(src[2])<<16 | uint32(src[3])<<8 | uint32(src[4])
	ip := 5
	in := &z.in
	copy(in[:], src)

	p := &z.p
	state := z.state
	rep0, rep1, rep2, rep3 := z.rep0, z.rep1, z.rep2, z.rep3
	lc := z.lc & 7
	lpMask := uint32(1)<<z.lp - 1
	pbMask := uint32(1)<<z.pb - 1
	dictStart := z.dictStart
	dictSize := z.dictSize

	if pos < dictStart || pos > len(out) {
		return false
	}
	var prev uint32
	if pos > dictStart {
		prev = uint32(out[pos-1])
	}

	for pos < len(out) {
		posState := uint32(pos) & pbMask
		rng, code, ip = norm(rng, code, in, ip)
		pm := &p.isMatch[(state<<4|posState)&0xff]
		bound := (rng >> probBits) * uint32(*pm)
		if code < bound {
			// Literal.
			rng = bound
			*pm += (1<<probBits - *pm) >> moveBits
			lp := &p.lit[((uint32(pos)&lpMask)<<lc+prev>>(8-lc))&15]
			var sym uint32
			if state < 7 {
				rng, code, ip, sym = literal(rng, code, in, ip, lp)
			} else {
				rng, code, ip, sym = matchedLiteral(rng, code, in, ip, lp, uint32(out[pos-int(rep0)-1]))
			}
			out[pos] = byte(sym)
			prev = sym & 0xff
			pos++
			state = stateLit(state)
			continue
		}
		rng -= bound
		code -= bound
		*pm -= *pm >> moveBits

		var length uint32
		var lens *lenProbs
		rng, code, ip = norm(rng, code, in, ip)
		pr := &p.isRep[state&15]
		bound = (rng >> probBits) * uint32(*pr)
		if code < bound {
			// Match with a new distance.
			rng = bound
			*pr += (1<<probBits - *pr) >> moveBits
			lens = &p.matchLen
		} else {
			rng -= bound
			code -= bound
			*pr -= *pr >> moveBits
			if pos <= dictStart {
				return false
			}
			rng, code, ip = norm(rng, code, in, ip)
			pg := &p.isRepG0[state&15]
			bound = (rng >> probBits) * uint32(*pg)
			if code < bound {
				rng = bound
				*pg += (1<<probBits - *pg) >> moveBits
				rng, code, ip = norm(rng, code, in, ip)
				pl := &p.isRep0Long[(state<<4|posState)&0xff]
				bound = (rng >> probBits) * uint32(*pl)
				if code < bound {
					// Short rep: one byte at rep0.
					rng = bound
					*pl += (1<<probBits - *pl) >> moveBits
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					b := out[pos-int(rep0)-1]
					out[pos] = b
					prev = uint32(b)
					pos++
					continue
				}
				rng -= bound
				code -= bound
				*pl -= *pl >> moveBits
			} else {
				rng -= bound
				code -= bound
				*pg -= *pg >> moveBits
				rng, code, ip = norm(rng, code, in, ip)
				pg = &p.isRepG1[state&15]
				bound = (rng >> probBits) * uint32(*pg)
				var dist uint32
				if code < bound {
					rng = bound
					*pg += (1<<probBits - *pg) >> moveBits
					dist = rep1
				} else {
					rng -= bound
					code -= bound
					*pg -= *pg >> moveBits
					rng, code, ip = norm(rng, code, in, ip)
					pg = &p.isRepG2[state&15]
					bound = (rng >> probBits) * uint32(*pg)
					if code < bound {
						rng = bound
						*pg += (1<<probBits - *pg) >> moveBits
						dist = rep2
					} else {
						rng -= bound
						code -= bound
						*pg -= *pg >> moveBits
						dist = rep3
						rep3 = rep2
					}
					rep2 = rep1
				}
				rep1 = rep0
				rep0 = dist
			}
			lens = &p.repLen
		}

		// Length.
		rng, code, ip = norm(rng, code, in, ip)
		bound = (rng >> probBits) * uint32(lens.choice)
		if code < bound {
			rng = bound
			lens.choice += (1<<probBits - lens.choice) >> moveBits
			var sym uint32
			rng, code, ip, sym = tree(rng, code, in, ip, lens.low[(posState<<3)&0x7f:][:8:8])
			length = sym - 8
		} else {
			rng -= bound
			code -= bound
			lens.choice -= lens.choice >> moveBits
			rng, code, ip = norm(rng, code, in, ip)
			bound = (rng >> probBits) * uint32(lens.choice2)
			if code < bound {
				rng = bound
				lens.choice2 += (1<<probBits - lens.choice2) >> moveBits
				t := lens.mid[(posState<<3)&0x7f:][:8:8]
				sym := uint32(1)
				for sym < 8 {
					var b uint32
					rng, code, ip = norm(rng, code, in, ip)
					rng, code, b = bit(rng, code, &t[sym&7])
					sym = sym<<1 | b
				}
				length = sym - 8 + 8
			} else {
				rng -= bound
				code -= bound
				lens.choice2 -= lens.choice2 >> moveBits
				t := &lens.high
				sym := uint32(1)
				for sym < 0x100 {
					var b uint32
					rng, code, ip = norm(rng, code, in, ip)
					rng, code, b = bit(rng, code, &t[sym&0xff])
					sym = sym<<1 | b
				}
				length = sym - 0x100 + 16
			}
		}

		if lens == &p.matchLen {
			// Distance.
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			ls := length
			if ls > 3 {
				ls = 3
			}
			var slot uint32
			rng, code, ip, slot = tree(rng, code, in, ip, p.distSlot[(ls<<6)&0xff:][:64:64])
			slot -= 64
			dist := slot
			if slot >= 4 {
				nd := slot>>1 - 1
				dist = (2 | slot&1) << nd
				if slot < endPosIdx {
					t := p.distSpec[(dist-slot)&127:]
					i := uint32(1)
					for k := uint32(0); k < nd; k++ {
						var b uint32
						rng, code, ip = norm(rng, code, in, ip)
						rng, code, b = bit(rng, code, &t[(i-1)&63])
						i = i<<1 | b
						dist |= b << k
					}
				} else {
					var direct uint32
					for k := nd - alignBits; k > 0; k-- {
						rng, code, ip = norm(rng, code, in, ip)
						rng >>= 1
						code -= rng
						m := 0 - code>>31 // all ones if the bit is 0
						code += rng & m
						direct = direct<<1 + (m + 1)
					}
					dist += direct << alignBits
					i := uint32(1)
					for k := uint32(0); k < alignBits; k++ {
						var b uint32
						rng, code, ip = norm(rng, code, in, ip)
						rng, code, b = bit(rng, code, &p.align[i&15])
						i = i<<1 | b
						dist |= b << k
					}
				}
			}
			// Also rejects the end marker (0xFFFFFFFF), which LZMA2
			// does not allow.
			if uint(dist) >= uint(pos-dictStart) || dist >= dictSize {
				return false
			}
			rep3, rep2, rep1, rep0 = rep2, rep1, rep0, dist
		} else {
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		}

		// Copy the match.
		n := int(length) + minMatch
		if n > len(out)-pos {
			return false
		}
		src := pos - int(rep0) - 1
		if rep0 >= 7 && n <= 16 && len(out)-pos >= 16 {
			// Short, and the source is 8 or more bytes back: two
			// word copies, which may write past the match's end
			// but not the chunk's; later bytes overwrite that.
			copy(out[pos:pos+8], out[src:src+8])
			copy(out[pos+8:pos+16], out[src+8:src+16])
		} else if int(rep0) >= n-1 {
			copy(out[pos:pos+n], out[src:src+n])
		} else {
			for i := range n {
				out[pos+i] = out[src+i]
			}
		}
		pos += n
		prev = uint32(out[pos-1])
	}

	rng, code, ip = norm(rng, code, in, ip)
	z.state = state
	z.rep0, z.rep1, z.rep2, z.rep3 = rep0, rep1, rep2, rep3
	return ip == len(src) && code == 0
}
