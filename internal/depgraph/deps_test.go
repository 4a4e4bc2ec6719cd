package depgraph

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	module   = "github.com/kafkaes/kafkaes"
	sarama   = "github.com/IBM/sarama"
	goavro   = "github.com/linkedin/goavro"
	srclient = "github.com/riferrei/srclient"
	franz    = "github.com/twmb/franz-go"
	prom     = "github.com/prometheus"
	otel     = "go.opentelemetry.io"
)

// rule says that the packages in roots, together, must not depend (directly
// or through other packages, test files excluded) on any path in forbidden.
// A forbidden path also forbids the packages below it.
type rule struct {
	roots     []string // relative to the module
	forbidden []string
}

// rules is the "must not import" column of DESIGN.md's package table, plus
// the promise that aggregate + eventstore/memory link no Kafka client.
func rules() []rule {
	m := func(rel string) string { return module + "/" + rel }
	kafkaClients := []string{sarama, franz}
	return []rule{
		{[]string{"eventstore"}, append([]string{m("serde"), m("aggregate"), goavro, srclient, m("eventstore/kafka")}, kafkaClients...)},
		{[]string{"eventstore/memory"}, append([]string{goavro, srclient}, kafkaClients...)},
		{[]string{"eventstore/eventstoretest"}, append([]string{goavro, srclient}, kafkaClients...)},
		{[]string{"eventstore/kafka"}, []string{goavro, srclient}},
		// The disk-resident index's database is linked only by programs
		// that use it (eventstore/kafka/pebbleindex).
		{[]string{"eventstore/kafka", "aggregate", "eventstore/memory", "snapshot/kafka", "projection/kafkaprojection"},
			[]string{"github.com/cockroachdb/pebble", "go.etcd.io/bbolt"}},
		{[]string{"aggregate"}, append([]string{goavro, srclient}, kafkaClients...)},
		{[]string{"aggregate/aggregatetest"}, append([]string{goavro, srclient}, kafkaClients...)},
		{[]string{"serde"}, append([]string{goavro, srclient, m("aggregate")}, kafkaClients...)},
		{[]string{"serde/avro"}, []string{sarama}},
		// Personal data: the encryption core links no client at all; the
		// Kafka key store links sarama but no serde or schema registry.
		{[]string{"serde/pii"}, append([]string{goavro, srclient, m("serde/avro"), m("aggregate"), m("eventstore"), m("internal")}, kafkaClients...)},
		{[]string{"serde/pii/erasure"}, append([]string{goavro, srclient, m("serde/avro"), m("aggregate")}, kafkaClients...)},
		{[]string{"serde/pii/kafkakeys"}, []string{goavro, srclient, franz, m("serde/avro"), m("aggregate"), m("projection")}},
		{[]string{"aggregate", "eventstore/memory"}, []string{sarama, franz, goavro, srclient}},
		// Observability: the core reports through eventstore/observe and
		// never links a metrics or tracing library; each back end links
		// only its own.
		{[]string{"eventstore", "eventstore/memory", "eventstore/kafka", "aggregate", "serde", "serde/avro",
			"snapshot", "snapshot/memory", "snapshot/kafka", "projection", "projection/kafkaprojection"}, []string{prom, otel}},
		{[]string{"eventstore/observe/prometheus"}, append([]string{otel, goavro, srclient}, kafkaClients...)},
		{[]string{"eventstore/observe/otel"}, append([]string{prom, goavro, srclient}, kafkaClients...)},
		// The shared raw-fetch helper sits below the Kafka packages: it links
		// sarama only (so no core package may import it, by the rules above).
		{[]string{"internal/kafkafetch"}, []string{goavro, srclient, prom, otel, franz,
			m("eventstore"), m("snapshot"), m("serde"), m("aggregate"), m("projection")}},
		// client.properties and SCRAM for sarama: sarama, xdg-go/scram and
		// the standard library only, so the CLI, tests and users can take
		// it alone. (It sits under eventstore/kafka, so that prefix cannot
		// be forbidden here; its siblings and the rest of the module are.)
		{[]string{"eventstore/kafka/kafkaconfig"}, []string{goavro, srclient, prom, otel, franz,
			m("eventstore/memory"), m("eventstore/observe"), m("eventstore/eventstoretest"), m("eventstore/kafka/kafkatest"),
			m("eventstore/kafka/internal"), m("snapshot"), m("serde"), m("aggregate"), m("projection"), m("internal")}},
	}
}

// pkg is the part of `go list -json` output the test needs.
type pkg struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

func TestImportRules(t *testing.T) {
	root := moduleRoot(t)
	var roots []string
	for _, r := range rules() {
		for _, rel := range r.roots {
			if !slices.Contains(roots, rel) && exists(root, rel) {
				roots = append(roots, rel)
			}
		}
	}
	graph := load(t, root, roots)
	for _, r := range rules() {
		name := strings.Join(r.roots, "+")
		t.Run(name, func(t *testing.T) {
			if gone := missing(root, r); len(gone) > 0 {
				// A renamed or moved package would silently turn the
				// rule off: that is an error, not a skip.
				t.Fatalf("the rule names packages that do not exist: %s; update rules() to the new package paths", strings.Join(gone, ", "))
			}
			for _, v := range violations(graph, r) {
				t.Errorf("%s must not depend on %s, but: %s", name, v.forbidden, strings.Join(v.chain, " -> "))
			}
		})
	}
}

// TestCheckerFindsViolations proves the check can fail: the Kafka test
// harness does import sarama, and the checker must say through what.
func TestCheckerFindsViolations(t *testing.T) {
	root := moduleRoot(t)
	const rel = "eventstore/kafka/kafkatest"
	if !exists(root, rel) {
		t.Fatalf("package %s does not exist; point the test at a package that imports sarama", rel)
	}
	graph := load(t, root, []string{rel})
	vs := violations(graph, rule{roots: []string{rel}, forbidden: []string{sarama, "github.com/twmb/franz-go/pkg/kfake"}})
	if len(vs) != 2 {
		t.Fatalf("want violations for sarama and kfake, got %+v", vs)
	}
	for _, v := range vs {
		if v.chain[0] != module+"/"+rel || !matches(v.chain[len(v.chain)-1], v.forbidden) {
			t.Fatalf("bad chain %v for %s", v.chain, v.forbidden)
		}
	}
	if got := violations(graph, rule{roots: []string{rel}, forbidden: []string{goavro}}); len(got) != 0 {
		t.Fatalf("false positive: %+v", got)
	}
}

// TestMissingPackagesAreErrors proves that a rule naming a package that
// does not exist (a root or a forbidden package of this module) is found.
func TestMissingPackagesAreErrors(t *testing.T) {
	root := moduleRoot(t)
	r := rule{roots: []string{"aggregate", "no/such/root"}, forbidden: []string{module + "/no/such/dep", sarama, module + "/serde"}}
	got := missing(root, r)
	want := []string{"no/such/root", "no/such/dep"}
	if !slices.Equal(got, want) {
		t.Fatalf("missing = %v, want %v", got, want)
	}
	for _, r := range rules() {
		if gone := missing(root, r); len(gone) > 0 {
			t.Errorf("rule %v names missing packages %v", r.roots, gone)
		}
	}
}

// missing returns the packages of this module that rule r names (roots
// and forbidden packages) but that do not exist.
func missing(root string, r rule) []string {
	var out []string
	for _, rel := range r.roots {
		if !exists(root, rel) {
			out = append(out, rel)
		}
	}
	for _, f := range r.forbidden {
		rel, ok := strings.CutPrefix(f, module+"/")
		if ok && !existsTree(root, rel) {
			out = append(out, rel)
		}
	}
	return out
}

// existsTree reports whether rel or a directory below it holds a package
// (forbidden paths match packages below them too).
func existsTree(root, rel string) bool {
	found := false
	_ = filepath.WalkDir(filepath.Join(root, rel), func(p string, d os.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if r, err := filepath.Rel(root, p); err == nil && exists(root, r) {
				found = true
				return filepath.SkipAll
			}
		}
		return nil
	})
	return found
}

type violation struct {
	forbidden string
	chain     []string // root ... forbidden package
}

// violations searches the import graph breadth-first from r's roots and
// returns, for every forbidden path that is reached, the shortest chain of
// imports that reaches it.
func violations(graph map[string]pkg, r rule) []violation {
	parent := map[string]string{}
	var queue []string
	for _, rel := range r.roots {
		p := module + "/" + rel
		parent[p] = ""
		queue = append(queue, p)
	}
	var out []violation
	found := map[string]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, f := range r.forbidden {
			if !found[f] && matches(p, f) {
				found[f] = true
				var chain []string
				for q := p; q != ""; q = parent[q] {
					chain = append([]string{q}, chain...)
				}
				out = append(out, violation{forbidden: f, chain: chain})
			}
		}
		for _, imp := range graph[p].Imports {
			if _, seen := parent[imp]; !seen {
				parent[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return out
}

// matches reports whether path is prefix or a package below it.
func matches(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// load runs `go list -deps -json` on the packages and returns the import
// graph of everything they depend on (test files excluded).
func load(t *testing.T, root string, rels []string) map[string]pkg {
	t.Helper()
	graph := map[string]pkg{}
	if len(rels) == 0 {
		return graph
	}
	args := []string{"list", "-e", "-deps", "-json=ImportPath,Imports,Error"}
	for _, rel := range rels {
		args = append(args, "./"+rel)
	}
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		graph[p.ImportPath] = p
	}
	for _, rel := range rels {
		p, ok := graph[module+"/"+rel]
		if !ok {
			t.Fatalf("go list did not report %s", rel)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", rel, p.Error.Err)
		}
	}
	return graph
}

// exists reports whether the module has a package (non-test Go files) at rel.
func exists(root, rel string) bool {
	entries, err := os.ReadDir(filepath.Join(root, rel))
	if err != nil {
		return false
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			return true
		}
	}
	return false
}

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// goTool returns the go command that runs this test.
func goTool() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
