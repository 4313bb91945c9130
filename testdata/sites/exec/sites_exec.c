// SPDX-License-Identifier: GPL-2.0
/*
 * sites_exec.c: a linked x86_64 image whose tables are laid out as a
 * vmlinux has them (self-relative entries between __start_ and __stop_
 * symbols), for elfscan's tests of the linked-image reader. traced()
 * holds a tracepoint (its key and its static call), a static key, a
 * dynamic-debug site and two static calls, one of them preemption's;
 * other() holds none. It is never run.
 *
 *   gcc -O2 -static -nostdlib -no-pie -fno-pic -o vmlinux sites_exec.c
 */
struct key {
	int enabled;
	long entries;
};

struct tracepoint {
	const char *name;
	struct key key;	/* at 8, as struct tracepoint has it */
	char rest[48];
};

struct ddebug {
	const char *modname, *function, *filename, *format;
	unsigned int lineno;
	struct key key;	/* at 40, as struct _ddebug has it */
} __attribute__((aligned(8)));

struct tracepoint __tracepoint_demo_tp = { "demo_tp" };
struct key demo_key, __SCK__tp_func_demo_tp, __SCK__demo_call, __SCK__preempt_schedule;
__attribute__((section("__dyndbg"), used)) struct ddebug descriptor = {
	"demo", "traced", "demo/sites_exec.c", "demo %d\n", 42,
};

extern char __start___jump_table[], __stop___jump_table[];
extern char __start_static_call_sites[], __stop_static_call_sites[];
extern char __start___dyndbg[], __stop___dyndbg[];

/* struct jump_entry { s32 code; s32 target; long key; }, key | 2 */
#define JUMP(key, label) asm goto("1: nop\n\t"				\
	".pushsection __jump_table, \"aw\"\n\t.balign 8\n\t"		\
	".long 1b - .\n\t.long %l[" #label "] - .\n\t"		\
	".quad %c0 + 2 - .\n\t.popsection" : : "i"(key) : : label)
/* struct static_call_site { s32 addr; s32 key; } */
#define SCALL(key) asm volatile("1: nop\n\t"				\
	".pushsection static_call_sites, \"aw\"\n\t"			\
	".long 1b - .\n\t.long %c0 - .\n\t.popsection" : : "i"(key))

__attribute__((noinline)) int traced(int v)
{
	JUMP(&__tracepoint_demo_tp.key, l1);
	SCALL(&__SCK__tp_func_demo_tp);
l1:
	JUMP(&demo_key, l2);
l2:
	JUMP(&descriptor.key, l3);
l3:
	SCALL(&__SCK__demo_call);
	SCALL(&__SCK__preempt_schedule);
	return v;
}

__attribute__((noinline)) int other(int v)
{
	return v + 1;
}

void _start(void)
{
	/* References make ld define the bounds. */
	static char *volatile bounds[] __attribute__((used)) = {
		__start___jump_table, __stop___jump_table,
		__start_static_call_sites, __stop_static_call_sites,
		__start___dyndbg, __stop___dyndbg,
	};
	traced(other(1));
	for (;;)
		;
}
