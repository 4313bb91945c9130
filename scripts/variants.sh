# variants.sh: sourced by the scripts that build testdata modules.
#
# write_variants KO DEST NAME [STRIP]: write module KO into directory DEST
# in every form the scan tests read: NAME.ko as built, stripped of debug
# information and of every unneeded symbol (STRIP, default strip: the
# binutils of KO's architecture), and compressed with xz (crc32, as
# kmod's), zstd and gzip. Deterministic: the same KO gives the same bytes.
write_variants() {
	wv_strip=${4:-strip}
	cp "$1" "$2/$3.ko"
	"$wv_strip" --strip-debug -o "$2/$3.strip-debug.ko" "$1"
	"$wv_strip" --strip-unneeded -o "$2/$3.strip-unneeded.ko" "$1"
	xz --check=crc32 --lzma2=dict=1MiB -T1 -c "$1" >"$2/$3.ko.xz"
	zstd -19 -q -c "$1" >"$2/$3.ko.zst"
	gzip -9 -n -c "$1" >"$2/$3.ko.gz"
}
