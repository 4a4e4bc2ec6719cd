package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes of kafkaes.
const (
	exitOK        = 0 // success, no violation found
	exitViolation = 1 // the command ran and found violations (verify, topics, schema check)
	exitFailure   = 2 // the command could not do its job (unreachable cluster, bad input)
	exitUsage     = 3 // bad command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs kafkaes with the given arguments (without the program name) and
// returns the exit code. Environment fallbacks come from the process
// environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, stdout, stderr, os.Getenv)
}

// command is one subcommand.
type command struct {
	name, args, summary string
	// flags registers the command's own flags; nil for none.
	flags func(fs *flag.FlagSet, o *cmdOpts)
	// minArgs and maxArgs bound the positional arguments (maxArgs < 0: no
	// limit).
	minArgs, maxArgs int
	// needsBrokers is false for commands that only talk to the registry.
	needsBrokers bool
	run          func(ctx context.Context, e *env, args []string) int
}

// cmdOpts holds the flags of every command; each command registers the ones
// it reads.
type cmdOpts struct {
	fromBeginning bool
	maxViolations int
	jsonOut       bool
	subject       string
	level         string
	group         string
	yes           bool
	all           bool
	limit         int
	olderThan     time.Duration
	toVersion     int64
	asOf          string
	projection    string
	dlqTopic      string
	by            string
	keyTopic      string
	indexDir      string
}

func commands() []command {
	return []command{
		{name: "topics", args: "[hanging]", summary: "list events and snapshot topics with partition counts and check their configuration; hanging: find open transactions that hold read_committed readers back",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.BoolVar(&o.all, "all", false, "also list topics that hold no kafkaes records")
				fs.DurationVar(&o.olderThan, "older-than", 0, "hanging: report open transactions whose producer has not written for this long (0: the brokers' transaction.max.timeout.ms, 15m by default)")
			},
			maxArgs: 1, needsBrokers: true, run: runTopics},
		{name: "stream", args: "<stream-id>", summary: "print the events of one stream as JSON lines; exit 1 on a damaged record (what verify would flag)",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.IntVar(&o.limit, "limit", 0, "print at most this many events (0: all)")
				fs.Int64Var(&o.toVersion, "to-version", 0, "print the events up to this version and stop (0: all): the stream as of a version")
				fs.StringVar(&o.asOf, "as-of", "", "print the events recorded at or before this RFC 3339 time (es.time) and stop at the first later one (default: all)")
				fs.StringVar(&o.keyTopic, "key-topic", "", "decrypt personal-data fields with the keys in this topic (needs --schema-registry; shows plaintext: mind who sees the output); erased subjects' fields are listed as redacted")
				fs.StringVar(&o.indexDir, "index-dir", "", "directory where an event store of the topic saves its stream index (kafka.WithIndexDir): read only what was appended since it was saved, instead of the whole partition, to find the stream (the file is only read)")
			},
			minArgs: 1, maxArgs: 1, needsBrokers: true, run: runStream},
		{name: "tail", summary: "follow new events of the topic as JSON lines until interrupted",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the beginning of the topic instead of its end")
				fs.IntVar(&o.limit, "limit", 0, "stop after this many events (0: never)")
				fs.StringVar(&o.keyTopic, "key-topic", "", "decrypt personal-data fields with the keys in this topic (needs --schema-registry)")
			},
			maxArgs: 0, needsBrokers: true, run: runTail},
		{name: "erase", args: "<subject-id>", summary: "erase a data subject: tombstone its key in the key topic, so every field encrypted for it becomes unreadable (crypto-shredding)",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.StringVar(&o.keyTopic, "key-topic", "", `key topic (default "<topic>.pii-keys")`)
				fs.BoolVar(&o.yes, "yes", false, "really erase (without it, only show whether the subject has a key)")
			},
			minArgs: 1, maxArgs: 1, needsBrokers: true, run: runErase},
		{name: "verify", summary: "read the whole events topic and check versions, event IDs and decodability; with a registry, also that fields marked as personal data (kafkaes.pii) hold no plaintext",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.IntVar(&o.maxViolations, "max-violations", 100, "print at most this many violations, 0 for all (all are counted)")
				fs.BoolVar(&o.jsonOut, "json", false, "print violations as JSON lines")
			},
			maxArgs: 0, needsBrokers: true, run: runVerify},
		{name: "schema", args: "check <file.avsc>", summary: "check a new Avro schema against the registry's history of its subject",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.StringVar(&o.subject, "subject", "", "registry subject (default: <topic>-<record full name>, the TopicRecordName strategy)")
				fs.StringVar(&o.level, "level", "", "compatibility level to check, e.g. FULL_TRANSITIVE (default: the subject's level in the registry)")
			},
			minArgs: 2, maxArgs: 2, run: runSchema},
		{name: "dlq", args: "list | show <stream-id> | retry <stream-id> | drop <stream-id>", summary: "list the streams projections dead-lettered (parked), print one stream's dead letters, or release a parked stream: retry its letters in order, or drop them",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.StringVar(&o.projection, "projection", "", "list, show: only the dead letters of this projection (default: all); retry, drop: the projection (required)")
				fs.StringVar(&o.dlqTopic, "dlq-topic", "", "dead-letter topic (default: <topic>.dlq)")
				fs.StringVar(&o.by, "by", "", "retry, drop: who asks, kept in the topic (default: $USER)")
			},
			minArgs: 1, maxArgs: 2, needsBrokers: true, run: runDLQ},
		{name: "projection", args: "status|rebuild", summary: "show a projection's lag per partition, or reset it to replay the topic",
			flags: func(fs *flag.FlagSet, o *cmdOpts) {
				fs.StringVar(&o.group, "group", "", "consumer group ID of the projection (required)")
				fs.BoolVar(&o.yes, "yes", false, "rebuild: really reset the group's offsets (without it, only show what would change)")
			},
			minArgs: 1, maxArgs: 1, needsBrokers: true, run: runProjection},
	}
}

// runEnv is run with the environment lookup given, so tests control it.
func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	global := newFlagSet("kafkaes", e, nil, nil)
	rest, err := parseInterleaved(global, args, true)
	if errors.Is(err, flag.ErrHelp) {
		usage(e.stdout)
		return exitOK
	}
	if err != nil {
		return usageError(e, err, "")
	}
	if len(rest) == 0 {
		// No command is a bad command line (exit 3), so a script that lost
		// its arguments does not pass; the usage goes to stderr.
		usage(e.stderr)
		return exitUsage
	}
	if rest[0] == "help" {
		if len(rest) > 1 {
			for _, c := range commands() {
				if c.name == rest[1] {
					commandUsage(e.stdout, c)
					return exitOK
				}
			}
		}
		usage(e.stdout)
		return exitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == rest[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		return usageError(e, fmt.Errorf("unknown command %q", rest[0]), "")
	}
	fs := newFlagSet("kafkaes "+cmd.name, e, &e.opts, cmd.flags)
	pos, err := parseInterleaved(fs, rest[1:], false)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(e.stdout, *cmd)
			return exitOK
		}
		return usageError(e, err, cmd.name)
	}
	if len(pos) < cmd.minArgs || (cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs) {
		want := cmd.args
		if want == "" {
			want = "no arguments"
		}
		return usageError(e, fmt.Errorf("%s takes %s, got %d argument(s)", cmd.name, want, len(pos)), cmd.name)
	}
	if err := e.resolveEnv(); err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	if cmd.needsBrokers && len(e.brokers) == 0 {
		noBrokers(e.stderr)
		return exitUsage
	}
	return cmd.run(ctx, e, pos)
}

func usageError(e *env, err error, cmd string) int {
	fmt.Fprintf(e.stderr, "kafkaes: %v\n", err)
	if cmd != "" {
		fmt.Fprintf(e.stderr, "Run 'kafkaes help %s' for usage.\n", cmd)
	} else {
		fmt.Fprintln(e.stderr, "Run 'kafkaes help' for usage.")
	}
	return exitUsage
}

// noBrokers explains how to point kafkaes at a cluster.
func noBrokers(w io.Writer) {
	fmt.Fprint(w, `kafkaes: no Kafka cluster given.

Point kafkaes at a cluster with the bootstrap brokers, either as a flag or in
the environment:

    kafkaes --brokers kafka-1:9092,kafka-2:9092 topics
    export KAFKAES_BROKERS=kafka-1:9092,kafka-2:9092

Add --schema-registry http://registry:8081 (or KAFKAES_SCHEMA_REGISTRY) to
decode Avro payloads, and --topic NAME (or KAFKAES_TOPIC) to choose the events
topic (default "events"). For a TLS listener add --tls (and --tls-ca FILE);
for SASL/PLAIN add --sasl-user NAME and set KAFKAES_SASL_PASSWORD.

A local single-node broker for trying things out: scripts/kafka-broker.sh in
the kafkaes repository (no Docker needed).
`)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `kafkaes inspects and checks the Kafka topics of kafkaes event-sourced services.

Usage:
    kafkaes [global flags] <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "    %-30s %s\n", c.name+" "+c.args, c.summary)
	}
	fmt.Fprint(w, `
Global flags (accepted before or after the command):
`)
	fs := newFlagSet("kafkaes", &env{}, nil, nil)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Exit status: 0 all good; 1 violations found (verify, topics, topics hanging,
schema check, or stream found no events or a damaged record);
2 the command failed (cluster or registry unreachable, topic missing, ...);
3 bad command line (also no command at all).

Run 'kafkaes help <command>' for the flags of a command.
`)
}

func commandUsage(w io.Writer, c command) {
	fmt.Fprintf(w, "Usage: kafkaes %s [flags]\n\n%s.\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	if c.flags != nil {
		fmt.Fprint(w, "\nFlags:\n")
		var o cmdOpts
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs, &o)
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprint(w, "\nGlobal flags:\n")
	fs := newFlagSet("kafkaes", &env{}, nil, nil)
	fs.SetOutput(w)
	fs.PrintDefaults()
}
