package avro

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// SubjectStrategy chooses the Schema Registry subject of an event type.
type SubjectStrategy int

const (
	// TopicRecordName uses "<topic>-<record full name>": each event type
	// of a topic evolves on its own. The default, since one events topic
	// holds many event types.
	TopicRecordName SubjectStrategy = iota
	// TopicName uses "<topic>-value": one schema lineage per topic, which
	// only fits topics with a single event type (or a union schema).
	TopicName
	// RecordName uses "<record full name>": a type evolves the same way
	// in every topic.
	RecordName
)

// Subject returns the subject for a record full name on topic.
func (s SubjectStrategy) Subject(topic, fullName string) string {
	switch s {
	case TopicName:
		return topic + "-value"
	case RecordName:
		return fullName
	}
	return topic + "-" + fullName
}

// Mode says how Marshal finds the schema ID of an event type.
type Mode int

const (
	// AutoRegister registers the type's schema under its subject on first
	// use, after checking its compatibility locally. The default; meant for
	// development and tests.
	AutoRegister Mode = iota
	// UseRegisteredOnly looks the schema up and fails with
	// [ErrSchemaNotRegistered] if it was never registered. Use it in
	// production, with schemas registered by the deployment pipeline.
	// Registries match schemas by their parsed form, so register the
	// exact text the serde uses: the .avsc given with [WithSchema], or
	// [Serde.SchemaFor] (avrotest.SchemaOf in tests) for derived schemas.
	UseRegisteredOnly
	// UseLatest writes with the latest schema of the subject (refreshed
	// after the latest-TTL), mapping the Go type onto it: fields the Go
	// type lacks take the schema's defaults.
	UseLatest
)

// Option configures a [Serde].
type Option func(*config)

type config struct {
	strategy  SubjectStrategy
	mode      Mode
	schemas   map[reflect.Type]string
	compat    Compatibility
	latestTTL time.Duration
	attempts  int
	backoff   time.Duration
	maxItems  int64
	enc       *pii.Encryptor // WithEncryption
	hooks     observe.Hooks  // WithObserver (observe.go)
	obsErr    error
	// goavroEncode disables the direct encoder, goavroDecode the direct
	// decoder (tests compare both paths).
	goavroEncode bool
	goavroDecode bool
}

// WithSubjectStrategy sets the subject strategy (default [TopicRecordName]).
func WithSubjectStrategy(s SubjectStrategy) Option { return func(c *config) { c.strategy = s } }

// WithMode sets how schemas are found (default [AutoRegister]).
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithSchema makes the serde use the Avro schema avsc (the text of an .avsc
// file) for event type T instead of deriving one from the Go type. The
// record's full name must equal the name T is registered under.
func WithSchema[T any](avsc string) Option {
	return func(c *config) { c.schemas[reflect.TypeFor[T]()] = avsc }
}

// WithCompatibility sets the level checked locally before AutoRegister
// registers a new version. By default the serde asks the registry for the
// subject's level (falling back to BACKWARD, the registry default, when
// the registry has none), so that it enforces the policy the registry
// enforces; pass FullTransitive to hold event schemas to the advised level
// whatever the registry says (see the package doc).
func WithCompatibility(l Compatibility) Option { return func(c *config) { c.compat = l } }

// WithLatestTTL sets how long [UseLatest] caches a subject's latest
// schema (default 1 minute). If the registry is unreachable when the TTL
// has passed, the serde keeps writing with the schema it has and asks
// again after min(TTL, 5s).
func WithLatestTTL(d time.Duration) Option { return func(c *config) { c.latestTTL = d } }

// WithRetry sets how many times a registry call is tried (default 4) and
// the first backoff, doubled after each try with jitter (default 100ms).
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) { c.attempts, c.backoff = max(attempts, 1), backoff }
}

// WithGoavroEncoding makes Marshal always build goavro's native form and
// encode with goavro, instead of the direct encoder that writes the same
// bytes about twice as fast. For debugging and for comparing the two.
func WithGoavroEncoding() Option { return func(c *config) { c.goavroEncode = true } }

// WithGoavroDecoding makes Unmarshal always decode with goavro into its
// native form and convert that to the Go value, instead of the direct
// decoder that reads Avro binary straight into the Go value (used when
// the writer's schema has the reader's shape or differs by added, removed
// or reordered record fields). Both accept the same
// payloads and give the same values; this is for debugging and for
// comparing the two.
func WithGoavroDecoding() Option { return func(c *config) { c.goavroDecode = true } }

// WithEncryption makes the serde encrypt the fields tagged `pii` with enc
// before encoding and decrypt them after decoding (see package
// [github.com/kafkaes/kafkaes/serde/pii] and "Personal data" in the
// package doc). Without it (the default), [New] refuses registered types
// with such fields, so personal data is never written in plaintext by
// mistake.
func WithEncryption(enc *pii.Encryptor) Option { return func(c *config) { c.enc = enc } }

// WithMaxItems bounds the number of zero-size array or map items (such as
// nulls) one payload may declare (default 65536); other items are bounded
// by the payload's size. This protects against payloads that would make
// the decoder allocate huge arrays.
func WithMaxItems(n int64) Option { return func(c *config) { c.maxItems = n } }

// Serde is a [serde.Serde] that stores events as Avro in the Confluent
// wire format (0x00, 4-byte big-endian schema ID, Avro binary body),
// with schemas in a Schema Registry. It is safe for concurrent use.
type Serde struct {
	reg   *serde.Registry
	rc    *registryClient
	topic string
	cfg   config

	mu      sync.Mutex // serialises the slow path (registry calls) per serde
	readers sync.Map   // reflect.Type -> *readerInfo
	writers sync.Map   // reflect.Type -> *writerInfo
	ids     sync.Map   // int -> *writerSchema
	decs    sync.Map   // decKey -> *decodePath
	aliases sync.Map   // old type name -> *aliasTarget
}

type readerInfo struct {
	name   string // registered name = record full name
	text   string
	schema *Schema
	codec  *goavro.Codec
	plan   *plan
	app    appendFn  // direct encoder, nil: use plan + goavro
	pii    *pii.Plan // nil: no personal-data fields
	// piiApp is the direct encoder of a type with personal-data fields
	// (pii_path.go); nil: encrypt a copy, then app or goavro.
	piiApp piiAppendFn
}

type writerInfo struct {
	id      int
	codec   *goavro.Codec
	plan    *plan
	app     appendFn  // direct encoder, nil: use plan + goavro
	expires time.Time // zero: never
	pii     *pii.Plan // nil: no personal-data fields
	piiApp  piiAppendFn
	states  sync.Pool // *encState: reusable native maps
}

type writerSchema struct {
	id     int
	schema *Schema
	codec  *goavro.Codec
	guard  bool // the schema has arrays or maps: check block counts first
}

type decKey struct {
	id int
	t  reflect.Type
}

type decodePath struct {
	ws      *writerSchema
	resolve resolveFn // nil: writer schema is the reader schema
	plan    *plan
	pii     *pii.Plan // nil: no personal-data fields
	// direct decodes the body straight into the Go value (decode.go);
	// nil: goavro + plan.
	direct readFn
	// directPII is direct for a type with personal-data fields, keeping
	// them aside for decryption (pii_path.go); nil: direct or goavro,
	// then decrypt the value.
	directPII piiReadFn
}

// New returns an Avro serde for the event types in reg, writing to topic
// (used for subject names), talking to the registry through client (for
// example from [NewClient]). The serde keeps its own caches (subject and
// schema to ID, ID to codec, latest schema with a TTL) and never calls
// srclient's Schema.Codec. If you build the srclient client yourself (for
// credentials or TLS), call its CachingEnabled(false): srclient's
// latest-version cache never expires, which would hide new versions from
// [UseLatest]. Event type names must be the Avro full names
// of the records: register types as serde.Register[T](reg,
// "bank.AccountOpened") and the derived record is named
// bank.AccountOpened.
//
// New checks what is cheap to check now rather than at the first
// Marshal: every event type registered in reg so far must have a schema
// that fits it (given with [WithSchema] or derived; an embedded struct, a
// channel or an unsupported map key fails here, naming the type and the
// field), and the registry must answer (one GET /config, bounded by ctx
// and retried like every registry call; a wrong URL or missing
// credentials fail here with [ErrRegistryUnavailable] or
// [ErrRegistryUnauthorized]). Schemas are registered or looked up later,
// per type, when first used, or all at once by [Serde.Prepare].
func New(ctx context.Context, reg *serde.Registry, client srclient.ISchemaRegistryClient, topic string, opts ...Option) (*Serde, error) {
	if reg == nil || client == nil {
		return nil, fmt.Errorf("avro: New needs an event registry and a schema registry client")
	}
	if topic == "" {
		return nil, fmt.Errorf("avro: New needs the topic name (used for subject names)")
	}
	cfg := config{schemas: map[reflect.Type]string{}, latestTTL: time.Minute, attempts: 4, backoff: 100 * time.Millisecond, maxItems: 1 << 16}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.obsErr != nil {
		return nil, fmt.Errorf("avro: WithObserver: %w", cfg.obsErr)
	}
	s := &Serde{reg: reg, topic: topic, cfg: cfg, rc: &registryClient{c: client, attempts: cfg.attempts, backoff: cfg.backoff, obs: cfg.hooks.Registry}}
	var errs []error
	for _, name := range reg.Names() {
		t, err := reg.Type(name)
		if err == nil {
			_, err = s.reader(t, name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("avro: New: %d registered event types cannot be encoded: %w", len(errs), errors.Join(errs...))
	}
	if err := s.rc.ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Topic returns the topic the serde names subjects after.
func (s *Serde) Topic() string { return s.topic }

// SchemaFor returns the reader schema JSON of the event type registered
// as name: the schema given with [WithSchema], or the derived one.
func (s *Serde) SchemaFor(name string) (string, error) {
	t, err := s.reg.Type(name)
	if err != nil {
		return "", err
	}
	ri, err := s.reader(t, name)
	if err != nil {
		return "", err
	}
	return ri.text, nil
}

// CheckType returns nil if values of t (or of the type t points to) can be
// encoded: t is registered, and its schema (given with [WithSchema] or
// derived) fits it. It does no I/O (the registry may still refuse the
// schema; [Serde.Prepare] asks it). See serde.TypeChecker.
func (s *Serde) CheckType(t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name, err := s.reg.Name(reflect.New(t).Interface())
	if err != nil {
		return err
	}
	_, err = s.reader(t, name)
	return err
}

// TypeNames returns the name t is registered under and the aliases of
// its record schema (former names the serde decodes as t, see [Aliased]
// and [WithSchema]); see serde.TypeNamer. ok is false if t is not
// registered or has no usable schema. It does no I/O.
func (s *Serde) TypeNames(t reflect.Type) ([]string, bool) {
	if t == nil || t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return nil, false
	}
	name, err := s.reg.Name(reflect.New(t).Interface())
	if err != nil {
		return nil, false
	}
	ri, err := s.reader(t, name)
	if err != nil {
		return nil, false
	}
	return append([]string{name}, ri.schema.Aliases...), true
}

// Subject returns the registry subject for the event type registered as
// name.
func (s *Serde) Subject(name string) string { return s.cfg.strategy.Subject(s.topic, name) }

func (s *Serde) reader(t reflect.Type, name string) (*readerInfo, error) {
	if v, ok := s.readers.Load(t); ok {
		return v.(*readerInfo), nil
	}
	pp, err := pii.Inspect(t)
	if err != nil {
		return nil, fmt.Errorf("avro: %w", err)
	}
	if pp != nil && s.cfg.enc == nil {
		return nil, fmt.Errorf("avro: %v has personal-data fields (%v) but the serde has no encryptor; pass avro.WithEncryption(pii.NewEncryptor(keyStore)) to avro.New", t, pp.Fields())
	}
	text, ok := s.cfg.schemas[t]
	if !ok {
		var err error
		if text, err = DeriveSchema(t, name); err != nil {
			return nil, err
		}
	}
	sch, err := ParseSchema(text)
	if err != nil {
		return nil, fmt.Errorf("avro: schema of %s: %w", name, err)
	}
	if sch.Kind != Record || sch.Name != name {
		return nil, fmt.Errorf("avro: the schema of %v must be a record named %q (its registered event name), got %s %q; register the type under the record's full name", t, name, sch.Kind, sch.Name)
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("avro: schema of %s: %w", name, err)
	}
	pl, err := compilePlan(t, sch)
	if err != nil {
		return nil, fmt.Errorf("avro: Go type %v does not fit its schema: %w", t, err)
	}
	ri := &readerInfo{name: name, text: text, schema: sch, codec: codec, plan: pl, pii: pp}
	if app, ok := compileAppend(t, sch); ok && !s.cfg.goavroEncode {
		ri.app = app
		if pp != nil {
			ri.piiApp, _ = compileAppendPII(t, sch, pp)
		}
	}
	s.readers.Store(t, ri)
	return ri, nil
}

// marshal encodes v (a registered event type or a pointer to one) as a
// Confluent-framed Avro record and returns its registered name.
func (s *Serde) marshal(ctx context.Context, v any) (string, []byte, error) {
	name, err := s.reg.Name(v)
	if err != nil {
		return "", nil, err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", nil, fmt.Errorf("avro: cannot marshal a nil %v", rv.Type())
		}
		rv = rv.Elem()
	}
	w, err := s.writer(ctx, rv.Type(), name)
	if err != nil {
		return "", nil, err
	}
	if w.piiApp != nil {
		sealed, err := s.cfg.enc.Seal(ctx, w.pii, rv)
		if err != nil {
			return "", nil, fmt.Errorf("avro: encode %s: %w", name, err)
		}
		buf := make([]byte, 5, 64+sealed.Len())
		binary.BigEndian.PutUint32(buf[1:], uint32(w.id))
		buf, err = w.piiApp(buf, rv, sealed)
		sealed.Release()
		if err != nil {
			return "", nil, fmt.Errorf("avro: encode %s: %w", name, err)
		}
		return name, buf, nil
	}
	if w.pii != nil {
		if rv, err = s.cfg.enc.Encrypt(ctx, w.pii, rv); err != nil {
			return "", nil, fmt.Errorf("avro: encode %s: %w", name, err)
		}
	}
	if w.app != nil {
		size := 128
		if w.pii != nil {
			size = 320 // envelopes are long (about 54 bytes more per field)
		}
		buf := make([]byte, 5, size)
		binary.BigEndian.PutUint32(buf[1:], uint32(w.id))
		if buf, err = w.app(buf, rv); err != nil {
			return "", nil, fmt.Errorf("avro: encode %s: %w", name, err)
		}
		return name, buf, nil
	}
	// goavro does not keep the native maps, so they are reused.
	st, _ := w.states.Get().(*encState)
	if st == nil {
		st = &encState{}
	}
	defer func() {
		st.reset()
		w.states.Put(st)
	}()
	native := st.recordMap(16)
	if err := w.plan.encInto(rv, st, native); err != nil {
		return "", nil, fmt.Errorf("avro: encode %s: %w", name, err)
	}
	buf := make([]byte, 5, 64)
	binary.BigEndian.PutUint32(buf[1:], uint32(w.id))
	buf, err = w.codec.BinaryFromNative(buf, native)
	if err != nil {
		return "", nil, fmt.Errorf("avro: encode %s: %w", name, err)
	}
	return name, buf, nil
}

func (s *Serde) writer(ctx context.Context, t reflect.Type, name string) (*writerInfo, error) {
	if v, ok := s.writers.Load(t); ok {
		w := v.(*writerInfo)
		if w.expires.IsZero() || time.Now().Before(w.expires) {
			s.observeCache(ctx, "writer", true)
			return w, nil
		}
	}
	s.observeCache(ctx, "writer", false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.writers.Load(t); ok {
		w := v.(*writerInfo)
		if w.expires.IsZero() || time.Now().Before(w.expires) {
			return w, nil
		}
	}
	ri, err := s.reader(t, name)
	if err != nil {
		return nil, err
	}
	subject := s.Subject(name)
	var w *writerInfo
	switch s.cfg.mode {
	case UseRegisteredOnly:
		info, err := s.rc.lookup(ctx, subject, ri.text)
		if err != nil {
			return nil, err
		}
		w = &writerInfo{id: info.id, codec: ri.codec, plan: ri.plan, app: ri.app, pii: ri.pii, piiApp: ri.piiApp}
	case UseLatest:
		var prev *writerInfo
		if v, ok := s.writers.Load(t); ok {
			prev = v.(*writerInfo)
		}
		info, err := s.rc.latest(ctx, subject)
		if err != nil {
			if prev == nil || !errors.Is(err, ErrRegistryUnavailable) {
				return nil, err
			}
			// The registry is down: keep writing with the last latest
			// schema, and ask again in a few seconds.
			w = &writerInfo{id: prev.id, codec: prev.codec, plan: prev.plan, app: prev.app, expires: time.Now().Add(min(s.cfg.latestTTL, 5*time.Second)), pii: ri.pii, piiApp: prev.piiApp}
			break
		}
		if prev != nil && prev.id == info.id {
			w = &writerInfo{id: prev.id, codec: prev.codec, plan: prev.plan, app: prev.app, expires: time.Now().Add(s.cfg.latestTTL), pii: ri.pii, piiApp: prev.piiApp}
			break
		}
		ws, err := s.writerSchema(ctx, info)
		if err != nil {
			return nil, err
		}
		pl, err := compilePlan(t, ws.schema)
		if err != nil {
			return nil, fmt.Errorf("avro: Go type %v cannot be written with the latest schema (ID %d) of subject %s: %w", t, info.id, subject, err)
		}
		w = &writerInfo{id: info.id, codec: ws.codec, plan: pl, expires: time.Now().Add(s.cfg.latestTTL), pii: ri.pii}
		if app, ok := compileAppend(t, ws.schema); ok && !s.cfg.goavroEncode {
			w.app = app
			if ri.pii != nil {
				w.piiApp, _ = compileAppendPII(t, ws.schema, ri.pii)
			}
		}
	default:
		if err := s.checkLocal(ctx, subject, ri.text); err != nil {
			return nil, err
		}
		info, err := s.rc.register(ctx, subject, ri.text)
		if err != nil {
			return nil, err
		}
		w = &writerInfo{id: info.id, codec: ri.codec, plan: ri.plan, app: ri.app, pii: ri.pii, piiApp: ri.piiApp}
	}
	s.writers.Store(t, w)
	return w, nil
}

// checkLocal enforces the compatibility level before registering, since
// not every registry does (srfake does not).
func (s *Serde) checkLocal(ctx context.Context, subject, text string) error {
	existing, err := s.rc.versions(ctx, subject)
	if err != nil || len(existing) == 0 {
		return err
	}
	for _, e := range existing {
		if sameSchema(e, text) {
			return nil // already registered: registering again is a no-op
		}
	}
	level := s.cfg.compat
	if level == "" {
		if level, err = s.rc.level(ctx, subject); err != nil {
			return err
		}
	}
	if err := CheckCompatibility(level, text, existing...); err != nil {
		if ie, ok := err.(*IncompatibleError); ok {
			ie.Subject = subject
		}
		return err
	}
	return nil
}

func (s *Serde) writerSchema(ctx context.Context, info schemaInfo) (*writerSchema, error) {
	if v, ok := s.ids.Load(info.id); ok {
		return v.(*writerSchema), nil
	}
	if !info.avro {
		return nil, fmt.Errorf("avro: schema ID %d is not an Avro schema; the payload was written by a Protobuf or JSON Schema serializer", info.id)
	}
	text := info.text
	var sch *Schema
	var err error
	if len(info.refs) > 0 {
		refs, err := s.rc.referencedSchemas(ctx, info.refs, map[string]bool{}, 0)
		if err != nil {
			return nil, fmt.Errorf("avro: schema ID %d: %w", info.id, err)
		}
		if sch, text, err = parseWithRefs(refs, info.text); err != nil {
			return nil, fmt.Errorf("avro: schema ID %d from the registry: %w", info.id, err)
		}
	} else if sch, err = ParseSchema(text); err != nil {
		return nil, fmt.Errorf("avro: schema ID %d from the registry: %w", info.id, err)
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("avro: schema ID %d from the registry: %w", info.id, err)
	}
	ws := &writerSchema{id: info.id, schema: sch, codec: codec, guard: hasBlocks(sch, map[*Schema]bool{})}
	s.ids.Store(info.id, ws)
	return ws, nil
}

type aliasTarget struct {
	t    reflect.Type
	name string
}

// aliasFor finds the registered event whose record has name as an alias.
// Results (also misses) are cached: register all types at start-up.
func (s *Serde) aliasFor(name string) (reflect.Type, string, bool) {
	if v, ok := s.aliases.Load(name); ok {
		a := v.(*aliasTarget)
		return a.t, a.name, a.t != nil
	}
	target := &aliasTarget{}
	for _, n := range s.reg.Names() {
		t, err := s.reg.Type(n)
		if err != nil {
			continue
		}
		ri, err := s.reader(t, n)
		if err != nil {
			continue
		}
		if contains(ri.schema.Aliases, name) {
			target = &aliasTarget{t: t, name: n}
			break
		}
	}
	s.aliases.Store(name, target)
	return target.t, target.name, target.t != nil
}

// frame splits a Confluent-framed payload into schema ID and body.
func frame(data []byte) (int, []byte, error) {
	if len(data) < 5 {
		return 0, nil, fmt.Errorf("%w: payload has %d bytes, fewer than the 5-byte header (magic byte 0x00 and 4-byte schema ID)", ErrNotFramed, len(data))
	}
	if data[0] != 0 {
		hint := ""
		switch data[0] {
		case '{', '[', '"':
			hint = " (it looks like JSON: was it written by a JSON serializer?)"
		}
		return 0, nil, fmt.Errorf("%w: first byte is 0x%02x, want magic byte 0x00%s", ErrNotFramed, data[0], hint)
	}
	return int(binary.BigEndian.Uint32(data[1:5])), data[5:], nil
}

// unmarshal decodes a Confluent-framed Avro payload into a value of the Go
// type registered as name, resolving the writer's schema (by its ID) to
// the type's current schema.
func (s *Serde) unmarshal(ctx context.Context, name string, data []byte) (any, error) {
	t, err := s.reg.Type(name)
	if err != nil {
		// A renamed type: an event registered today may list name as an
		// alias of its record.
		at, newName, ok := s.aliasFor(name)
		if !ok {
			return nil, err
		}
		t, name = at, newName
	}
	id, body, err := frame(data)
	if err != nil {
		return nil, &DecodeError{Type: name, Topic: s.topic, Err: err}
	}
	dp, err := s.decodePath(ctx, id, t, name)
	if err != nil {
		return nil, err
	}
	if dp.directPII != nil {
		out, err := s.decodeDirectPII(ctx, dp, t, body, name, id)
		if err != nil {
			return nil, err
		}
		return out.Interface(), nil
	}
	var out reflect.Value
	if dp.direct != nil {
		out, err = decodeDirect(dp.ws, dp.direct, t, body, s.cfg.maxItems)
	} else {
		out, err = decodeGoavro(dp, t, body, s.cfg.maxItems)
	}
	if err != nil {
		return nil, &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: err}
	}
	if dp.pii != nil {
		if err := s.decrypt(ctx, dp.pii, out, name, id); err != nil {
			return nil, err
		}
	}
	return out.Interface(), nil
}

// decrypt decrypts the personal-data fields of out (addressable): a
// tampered field is a [DecodeError] (matching serde.ErrMalformed and
// pii.ErrDecrypt), a key store failure is returned as it is.
func (s *Serde) decrypt(ctx context.Context, p *pii.Plan, out reflect.Value, name string, id int) error {
	if err := s.cfg.enc.Decrypt(ctx, p, out.Addr()); err != nil {
		return s.decryptErr(err, name, id)
	}
	return nil
}

// decryptErr wraps an error of decryption as decrypt describes.
func (s *Serde) decryptErr(err error, name string, id int) error {
	if errors.Is(err, pii.ErrDecrypt) {
		return &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: err}
	}
	return fmt.Errorf("avro: decode %s: %w", name, err)
}

func (s *Serde) fetchWriter(ctx context.Context, id int) (*writerSchema, error) {
	if v, ok := s.ids.Load(id); ok {
		s.observeCache(ctx, "schema_by_id", true)
		return v.(*writerSchema), nil
	}
	s.observeCache(ctx, "schema_by_id", false)
	info, err := s.rc.schemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	info.id = id
	return s.writerSchema(ctx, info)
}

func (s *Serde) decodePath(ctx context.Context, id int, t reflect.Type, name string) (*decodePath, error) {
	key := decKey{id, t}
	if v, ok := s.decs.Load(key); ok {
		s.observeCache(ctx, "decoder", true)
		return v.(*decodePath), nil
	}
	s.observeCache(ctx, "decoder", false)
	ws, err := s.fetchWriter(ctx, id)
	if err != nil {
		return nil, err
	}
	ri, err := s.reader(t, name)
	if err != nil {
		return nil, err
	}
	// Resolution is compiled once per (schema ID, Go type); it is nil when
	// the writer's schema needs no conversion.
	fn, err := compileResolver(ws.schema, ri.schema, false)
	if err != nil {
		return nil, &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: fmt.Errorf("the writer's schema cannot be read as %v's schema: %v; keep schema changes compatible, or register an upcaster", t, err)}
	}
	dp := &decodePath{ws: ws, plan: ri.plan, resolve: fn, pii: ri.pii}
	if !s.cfg.goavroDecode {
		var rd readFn
		var ok bool
		if fn == nil && sameShape(ws.schema, ri.schema, map[[2]*Schema]bool{}) {
			rd, ok = compileRead(t, ri.schema)
			if ok && ri.pii != nil {
				dp.directPII, _ = compileReadPII(t, ri.schema, ri.pii)
			}
		} else if fn != nil {
			rd, ok = compileReadResolved(t, ws.schema, ri.schema)
		}
		if ok {
			dp.direct = rd
		}
	}
	s.decs.Store(key, dp)
	return dp, nil
}
