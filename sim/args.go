package sim

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax is wrapped by every error about a verb line itself.
var ErrSyntax = errors.New("sim: bad verb")

// args is one parsed verb line: the verb, positional words, an optional
// quoted text and key=value options.
type args struct {
	verb    string
	pos     []string
	text    string
	hasText bool
	kv      map[string]string
	used    map[string]bool
}

// parseLine splits a verb line into words, honouring double quotes (Go
// syntax, so "a \"b\"" works), and classifies them.
func parseLine(line string) (*args, error) {
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: empty line", ErrSyntax)
	}
	a := &args{verb: words[0], kv: map[string]string{}, used: map[string]bool{}}
	for _, w := range words[1:] {
		switch {
		case strings.HasPrefix(w, `"`):
			if a.hasText {
				return nil, fmt.Errorf("%w: two quoted texts in %q", ErrSyntax, line)
			}
			t, err := strconv.Unquote(w)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrSyntax, w, err)
			}
			a.text, a.hasText = t, true
		case strings.Contains(w, "=") && !strings.Contains(w, "->"):
			k, v, _ := strings.Cut(w, "=")
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrSyntax, w, err)
				}
				v = u
			}
			if _, dup := a.kv[k]; dup {
				return nil, fmt.Errorf("%w: %s given twice", ErrSyntax, k)
			}
			a.kv[k] = v
		default:
			a.pos = append(a.pos, w)
		}
	}
	return a, nil
}

func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, esc, has := false, false, false
	for _, r := range line {
		switch {
		case esc:
			esc = false
		case in && r == '\\':
			esc = true
		case r == '"':
			in = !in
		case !in && (r == ' ' || r == '\t'):
			if has {
				words = append(words, cur.String())
				cur.Reset()
				has = false
			}
			continue
		}
		cur.WriteRune(r)
		has = true
	}
	if in {
		return nil, fmt.Errorf("%w: unterminated quote in %q", ErrSyntax, line)
	}
	if has {
		words = append(words, cur.String())
	}
	return words, nil
}

func (a *args) has(k string) bool {
	_, ok := a.kv[k]
	return ok
}

func (a *args) str(k, def string) string {
	v, ok := a.kv[k]
	if !ok {
		return def
	}
	a.used[k] = true
	return v
}

func (a *args) dur(k string, def time.Duration) (time.Duration, error) {
	v, ok := a.kv[k]
	if !ok {
		return def, nil
	}
	a.used[k] = true
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%s: %v", ErrSyntax, k, v, err)
	}
	return d, nil
}

func (a *args) int(k string, def int) (int, error) {
	v, ok := a.kv[k]
	if !ok {
		return def, nil
	}
	a.used[k] = true
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%s: %v", ErrSyntax, k, v, err)
	}
	return n, nil
}

func (a *args) uint(k string) (uint64, bool, error) {
	v, ok := a.kv[k]
	if !ok {
		return 0, false, nil
	}
	a.used[k] = true
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %s=%s: %v", ErrSyntax, k, v, err)
	}
	return n, true, nil
}

func (a *args) float(k string, def float64) (float64, error) {
	v, ok := a.kv[k]
	if !ok {
		return def, nil
	}
	a.used[k] = true
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%w: %s=%s: want a probability", ErrSyntax, k, v)
	}
	return f, nil
}

func (a *args) onOff(k string, def bool) (bool, error) {
	v, ok := a.kv[k]
	if !ok {
		return def, nil
	}
	a.used[k] = true
	switch v {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s=%s: want on or off", ErrSyntax, k, v)
}

// done fails on options the verb did not use and on extra positionals.
func (a *args) done(npos int) error {
	if len(a.pos) > npos {
		return fmt.Errorf("%w: %s: unexpected %q", ErrSyntax, a.verb, a.pos[npos:])
	}
	var extra []string
	for k := range a.kv {
		if !a.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("%w: %s: unknown options %v", ErrSyntax, a.verb, extra)
	}
	return nil
}

// arg returns positional i, or fails.
func (a *args) arg(i int, what string) (string, error) {
	if i >= len(a.pos) {
		return "", fmt.Errorf("%w: %s: missing %s", ErrSyntax, a.verb, what)
	}
	return a.pos[i], nil
}
