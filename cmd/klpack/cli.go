package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
)

// A cobra command that only groups others prints its help and exits 0
// for anything it is given, so that a typo (klpack hooks stats) passes in
// CI. guardParents makes each such command refuse what is not one of its
// commands, with exit 2 and a suggestion; the root alone still prints its
// help when given nothing.
func guardParents(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		guardParents(c)
	}
	if !cmd.HasSubCommands() {
		return
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		return nil
	}
	if cmd.Run == nil && cmd.RunE == nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if !c.HasParent() {
				return c.Help()
			}
			return &exitError{exitInput, fmt.Errorf("missing COMMAND: %s takes one of %s (see %s --help)",
				c.CommandPath(), strings.Join(commandNames(c), ", "), c.CommandPath())}
		}
	}
}

// unknownCommand says that name is none of cmd's commands, suggesting
// those it is close to, else listing them.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		q := make([]string, len(s))
		for i, n := range s {
			q[i] = fmt.Sprintf("%q", n)
		}
		msg += "; did you mean " + orList(q) + "?"
	} else {
		msg += "; the commands are " + strings.Join(commandNames(cmd), ", ")
	}
	return &exitError{exitInput, fmt.Errorf("%s", msg)}
}

// flagError is the root's flag error function (its commands inherit
// it). A parent command parses the flags of the command the user meant:
// klpack deploy captur --sysfs DIR fails on --sysfs, where the mistake is
// captur.
func flagError(cmd *cobra.Command, err error) error {
	if cmd.HasSubCommands() {
		if args := cmd.Flags().Args(); len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
	}
	if m := strconvError.FindStringSubmatchIndex(err.Error()); m != nil {
		msg := err.Error()
		want := map[string]string{"Int": "a whole number", "Uint": "a whole number, 0 or more", "Float": "a number", "Bool": "true or false"}[msg[m[2]:m[3]]]
		if msg[m[4]:m[5]] == "value out of range" {
			return &exitError{exitInput, fmt.Errorf("%s: out of range", msg[:m[0]])}
		}
		return &exitError{exitInput, fmt.Errorf("%s: want %s", msg[:m[0]], want)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "unknown flag: --"); ok {
		if s := flagSuggestions(cmd, name); len(s) > 0 {
			return &exitError{exitInput, fmt.Errorf("%w; did you mean %s?", err, orList(s))}
		}
	}
	return &exitError{exitInput, err}
}

// strconvError is how pflag ends an invalid number or bool: with
// strconv's error, which names a Go function.
var strconvError = regexp.MustCompile(`: strconv\.Parse(Int|Uint|Float|Bool): parsing ".*": (invalid syntax|value out of range)$`)

// flagSuggestions are cmd's long flags within an edit distance of 2 of
// name, closest first, as --name. Those it inherits are among them: cobra
// merges them into cmd.Flags() before it parses.
func flagSuggestions(cmd *cobra.Command, name string) []string {
	// The value of --name=value is not part of the name.
	name, _, _ = strings.Cut(name, "=")
	type near struct {
		name string
		d    int
	}
	var found []near
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if d := editDistance(strings.ToLower(name), f.Name); d <= 2 && !f.Hidden {
			found = append(found, near{f.Name, d})
		}
	})
	slices.SortStableFunc(found, func(a, b near) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = "--" + f.name
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (flag names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// commandNames are the commands a user may run under cmd.
func commandNames(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" {
			names = append(names, c.Name())
		}
	}
	return names
}

// orList joins "a", "b" and "c" as "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// positional checks a command's arguments: at least min, at most max (-1:
// no limit). Cobra says "accepts 1 arg(s), received 0"; this names the
// argument, from the command's Use line, and says what it is.
func positional(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		names := argNames(cmd.Use)
		switch {
		case len(args) < min:
			name := "ARG"
			if len(args) < len(names) {
				name = names[len(args)]
			}
			return &exitError{exitInput, fmt.Errorf("missing %s: %s (usage: %s)", name, what, cmd.UseLine())}
		case max == 0 && len(args) > 0:
			return &exitError{exitInput, fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])}
		case max > 0 && len(args) > max:
			return &exitError{exitInput, fmt.Errorf("%s takes %d argument%s (%s), got %d: extra %q (usage: %s)",
				cmd.CommandPath(), max, plural(max), strings.Join(names, " "), len(args), args[max], cmd.UseLine())}
		}
		return nil
	}
}

// argNames are the positional arguments a Use line shows, in order:
// "sign --key KEY [--cert CERT] [flags] MODULE" has MODULE. Optional
// parts in brackets, flags with their values and the alternatives after
// " | " are not arguments; a trailing "..." is dropped.
func argNames(use string) []string {
	use, _, _ = strings.Cut(use, " | ")
	var names []string
	depth, flagValue := 0, false
	for i, f := range strings.Fields(use) {
		opens, closes := strings.Count(f, "["), strings.Count(f, "]")
		inBrackets := depth > 0 || opens > 0
		depth += opens - closes
		switch {
		case i == 0 || inBrackets:
		case strings.HasPrefix(f, "-"):
			flagValue = true
			continue
		case flagValue:
		default:
			names = append(names, strings.TrimSuffix(f, "..."))
		}
		flagValue = false
	}
	return names
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Fixed-value flags: the values each accepts, for its errors and its
// shell completion. The packages that own them check them again.
var (
	kernelModels = []string{deploy.ModelMainline, deploy.ModelHybrid, deploy.ModelReplaceSet}
	severities   = []string{check.Info.String(), check.Warning.String(), check.Error.String()}
	hashNames    = []string{"sha256", "sha384", "sha512"}
)

// enumValue is a string flag that takes one of values (any case, kept in
// the listed spelling) or, when list is set, a comma-separated list of
// them.
type enumValue struct {
	target *string
	values []string
	list   bool
}

func (e *enumValue) String() string { return *e.target }
func (e *enumValue) Type() string   { return "string" }

func (e *enumValue) Set(s string) error {
	parts := []string{s}
	if e.list {
		parts = strings.Split(s, ",")
	}
	for i, p := range parts {
		j := slices.IndexFunc(e.values, func(v string) bool { return strings.EqualFold(v, p) })
		if j < 0 {
			want := "want " + orList(e.values)
			if e.list {
				return fmt.Errorf("%q: %s, comma-separated", p, want)
			}
			return errors.New(want)
		}
		parts[i] = e.values[j]
	}
	*e.target = strings.Join(parts, ",")
	return nil
}

// enumFlag defines a fixed-value flag on cmd and completes its values.
func enumFlag(cmd *cobra.Command, p *string, name, value string, values []string, list bool, usage string) {
	enumFlagIn(cmd, cmd.Flags(), p, name, value, values, list, usage)
}

// enumFlagIn is enumFlag in one of cmd's flag sets: its persistent
// flags make one its commands inherit.
func enumFlagIn(cmd *cobra.Command, fs *pflag.FlagSet, p *string, name, value string, values []string, list bool, usage string) {
	*p = value
	fs.Var(&enumValue{target: p, values: values, list: list}, name, usage)
	cmd.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		// A list completes its next item after what is typed.
		prefix, typed, done := "", toComplete, []string(nil)
		if i := strings.LastIndex(toComplete, ","); list && i >= 0 {
			prefix, typed, done = toComplete[:i+1], toComplete[i+1:], strings.Split(toComplete[:i], ",")
		}
		var out []cobra.Completion
		for _, v := range values {
			if strings.HasPrefix(v, typed) && !slices.Contains(done, v) {
				out = append(out, prefix+v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}
