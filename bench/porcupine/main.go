// Command porcupine-bench checks the labelled linearizability histories with
// Porcupine and prints, as JSON on stdout, each history's verdict and check
// time. bench/linearizability.py builds it (go build, into the failmodel
// cache) and compares the figures with failmodel's own checker in the same
// run.
//
// Usage: porcupine-bench [-repeat N] [-timeout D] FILE...
//
// A file named *.log is a Jepsen etcd log (one compare-and-set register); any
// other file holds one EDN-like map per line (a key-value store with
// get/put/append, partitioned by key). Both are parsed the way failmodel's
// readers parse them: the time of an event is its line number, an operation
// that ends in :info (or never ends) returns after the last line with an
// unknown output, and an operation answered :fail is dropped (it surely did
// not happen).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// ---- the compare-and-set register (etcd) ----

type regOp uint8

const (
	regRead regOp = iota
	regWrite
	regCas
)

type regInput struct {
	op       regOp
	from, to int // write sets from; cas compares from and sets to
}

type regOutput struct {
	value   int  // read: the value seen (nilValue for nil)
	ok      bool // cas: whether it swapped
	unknown bool // the operation timed out: any outcome
}

const nilValue = -1 << 40

var registerModel = porcupine.Model{
	Init: func() interface{} { return nilValue },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(int)
		in := input.(regInput)
		out := output.(regOutput)
		switch in.op {
		case regRead:
			return out.unknown || out.value == st, st
		case regWrite:
			return true, in.from
		default:
			if st == in.from {
				return out.unknown || out.ok, in.to
			}
			return out.unknown || !out.ok, st
		}
	},
}

// ---- the key-value store (get / put / append) ----

type kvOp uint8

const (
	kvGet kvOp = iota
	kvPut
	kvAppend
)

type kvInput struct {
	op    kvOp
	key   string
	value string
}

type kvOutput struct {
	value   string
	unknown bool
}

func kvStep(state, input, output interface{}) (bool, interface{}) {
	st := state.(string)
	in := input.(kvInput)
	out := output.(kvOutput)
	switch in.op {
	case kvGet:
		return out.unknown || out.value == st, st
	case kvPut:
		return true, in.value
	default:
		return true, st + in.value
	}
}

func kvPartition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(kvInput).key
		if _, seen := byKey[k]; !seen {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

var kvModel = porcupine.Model{
	Init:      func() interface{} { return "" },
	Step:      kvStep,
	Partition: kvPartition,
}

var kvOneKeyModel = porcupine.Model{
	Init: func() interface{} { return "" },
	Step: kvStep,
}

// ---- readers ----

type pending struct {
	id    int
	input interface{}
	call  int64
	proc  int
}

type parsed struct {
	ops   []porcupine.Operation
	model porcupine.Model
	name  string
}

var etcdLine = regexp.MustCompile(`^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:([\w-]+)\s*(.*?)\s*$`)
var casValue = regexp.MustCompile(`^\[(-?\d+)\s+(-?\d+)\]$`)

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// pairing matches each process's invoke with its completion.
type pairing struct {
	open    map[int]pending
	unknown []pending // ended in :info
}

func newPairing() *pairing { return &pairing{open: map[int]pending{}} }

// finish closes every operation whose outcome is unknown (:info, or no
// completion at all) after the last line, with an unknown output.
func (p *pairing) finish(ops []porcupine.Operation, end int64, unknown interface{}) []porcupine.Operation {
	rest := p.unknown
	for _, q := range p.open {
		rest = append(rest, q)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].id < rest[j].id })
	for _, q := range rest {
		ops = append(ops, porcupine.Operation{ClientId: q.proc, Input: q.input, Call: q.call, Output: unknown, Return: end})
	}
	return ops
}

func parseEtcd(path string) (parsed, error) {
	lines, err := readLines(path)
	if err != nil {
		return parsed{}, err
	}
	pairs := newPairing()
	open := pairs.open
	var ops []porcupine.Operation
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := etcdLine.FindStringSubmatch(line)
		if m == nil {
			return parsed{}, fmt.Errorf("%s:%d: not a Jepsen log line", path, i+1)
		}
		if m[1] == ":nemesis" {
			continue
		}
		proc, err := strconv.Atoi(m[1])
		if err != nil {
			return parsed{}, fmt.Errorf("%s:%d: process %q", path, i+1, m[1])
		}
		kind, f, value := m[2], m[3], m[4]
		t := int64(i)
		if kind == "invoke" {
			var in regInput
			switch f {
			case "read":
				in = regInput{op: regRead}
			case "write":
				v, err := strconv.Atoi(value)
				if err != nil {
					return parsed{}, fmt.Errorf("%s:%d: write of %q", path, i+1, value)
				}
				in = regInput{op: regWrite, from: v}
			case "cas":
				c := casValue.FindStringSubmatch(value)
				if c == nil {
					return parsed{}, fmt.Errorf("%s:%d: cas of %q", path, i+1, value)
				}
				a, _ := strconv.Atoi(c[1])
				b, _ := strconv.Atoi(c[2])
				in = regInput{op: regCas, from: a, to: b}
			default:
				return parsed{}, fmt.Errorf("%s:%d: unknown f %q", path, i+1, f)
			}
			open[proc] = pending{id: i, input: in, call: t, proc: proc}
			continue
		}
		p, ok := open[proc]
		if !ok {
			return parsed{}, fmt.Errorf("%s:%d: completion without an invoke", path, i+1)
		}
		switch kind {
		case "info":
			delete(open, proc)
			pairs.unknown = append(pairs.unknown, p)
		case "fail":
			delete(open, proc) // surely did not happen
		case "ok":
			delete(open, proc)
			out := regOutput{ok: true}
			if p.input.(regInput).op == regRead {
				out.value = nilValue
				if value != "nil" {
					v, err := strconv.Atoi(value)
					if err != nil {
						return parsed{}, fmt.Errorf("%s:%d: read of %q", path, i+1, value)
					}
					out.value = v
				}
			}
			ops = append(ops, porcupine.Operation{ClientId: proc, Input: p.input, Call: p.call, Output: out, Return: t})
		default:
			return parsed{}, fmt.Errorf("%s:%d: unknown type %q", path, i+1, kind)
		}
	}
	ops = pairs.finish(ops, int64(len(lines)), regOutput{unknown: true})
	return parsed{ops: ops, model: registerModel, name: "cas-register"}, nil
}

var ednField = regexp.MustCompile(`:(\w+)\s+(nil|"(?:[^"\\]|\\.)*"|:[\w-]+|-?\d+)`)

func parseKv(path string) (parsed, error) {
	lines, err := readLines(path)
	if err != nil {
		return parsed{}, err
	}
	pairs := newPairing()
	open := pairs.open
	var ops []porcupine.Operation
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields := map[string]string{}
		for _, m := range ednField.FindAllStringSubmatch(line, -1) {
			fields[m[1]] = m[2]
		}
		str := func(name string) (string, bool) {
			v, ok := fields[name]
			if !ok || v == "nil" {
				return "", ok
			}
			s, err := strconv.Unquote(v)
			return s, err == nil
		}
		proc, err := strconv.Atoi(fields["process"])
		if err != nil {
			return parsed{}, fmt.Errorf("%s:%d: no :process", path, i+1)
		}
		kind := strings.TrimPrefix(fields["type"], ":")
		f := strings.TrimPrefix(fields["f"], ":")
		t := int64(i)
		if kind == "invoke" {
			key, _ := str("key")
			value, _ := str("value")
			in := kvInput{key: key, value: value}
			switch f {
			case "get":
				in.op = kvGet
			case "put":
				in.op = kvPut
			case "append":
				in.op = kvAppend
			default:
				return parsed{}, fmt.Errorf("%s:%d: unknown f %q", path, i+1, f)
			}
			open[proc] = pending{id: i, input: in, call: t, proc: proc}
			continue
		}
		p, ok := open[proc]
		if !ok {
			return parsed{}, fmt.Errorf("%s:%d: completion without an invoke", path, i+1)
		}
		switch kind {
		case "info":
			delete(open, proc)
			pairs.unknown = append(pairs.unknown, p)
		case "fail":
			delete(open, proc)
		case "ok":
			delete(open, proc)
			value, _ := str("value")
			ops = append(ops, porcupine.Operation{ClientId: proc, Input: p.input, Call: p.call, Output: kvOutput{value: value}, Return: t})
		default:
			return parsed{}, fmt.Errorf("%s:%d: unknown type %q", path, i+1, kind)
		}
	}
	ops = pairs.finish(ops, int64(len(lines)), kvOutput{unknown: true})
	return parsed{ops: ops, model: kvModel, name: "kv"}, nil
}

// ---- timing ----

type keyResult struct {
	Key     string  `json:"key"`
	Ops     int     `json:"ops"`
	Result  string  `json:"result"`
	Seconds float64 `json:"seconds"`
}

type historyResult struct {
	File    string      `json:"file"`
	Model   string      `json:"model"`
	Ops     int         `json:"ops"`
	Result  string      `json:"result"`
	Seconds float64     `json:"seconds"`
	Runs    int         `json:"runs"`
	Keys    []keyResult `json:"keys,omitempty"`
}

type report struct {
	Porcupine  string          `json:"porcupine"`
	Go         string          `json:"go"`
	GoMaxProcs int             `json:"gomaxprocs"`
	Histories  []historyResult `json:"histories"`
}

// best runs check repeat times and returns its result and the fastest time.
func best(repeat int, check func() porcupine.CheckResult) (porcupine.CheckResult, float64) {
	var result porcupine.CheckResult
	fastest := -1.0
	for r := 0; r < repeat; r++ {
		start := time.Now()
		result = check()
		took := time.Since(start).Seconds()
		if fastest < 0 || took < fastest {
			fastest = took
		}
	}
	return result, fastest
}

func porcupineVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/anishathalye/porcupine" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func main() {
	repeat := flag.Int("repeat", 5, "check each history this many times; report the fastest")
	timeout := flag.Duration("timeout", 0, "per-check timeout (0: none)")
	flag.Parse()
	out := report{Porcupine: porcupineVersion(), Go: runtime.Version(), GoMaxProcs: runtime.GOMAXPROCS(0)}
	for _, path := range flag.Args() {
		var p parsed
		var err error
		if strings.HasSuffix(path, ".log") {
			p, err = parseEtcd(path)
		} else {
			p, err = parseKv(path)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "porcupine-bench:", err)
			os.Exit(2)
		}
		result, took := best(*repeat, func() porcupine.CheckResult {
			return porcupine.CheckOperationsTimeout(p.model, p.ops, *timeout)
		})
		h := historyResult{File: filepath.Base(path), Model: p.name, Ops: len(p.ops), Result: string(result), Seconds: took, Runs: *repeat}
		if p.model.Partition != nil {
			for _, part := range p.model.Partition(p.ops) {
				part := part
				r, t := best(*repeat, func() porcupine.CheckResult {
					return porcupine.CheckOperationsTimeout(kvOneKeyModel, part, *timeout)
				})
				h.Keys = append(h.Keys, keyResult{Key: part[0].Input.(kvInput).key, Ops: len(part), Result: string(r), Seconds: t})
			}
		}
		out.Histories = append(out.Histories, h)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "porcupine-bench:", err)
		os.Exit(2)
	}
}
