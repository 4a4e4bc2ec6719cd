package erasure_test

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/erasure"
)

// PatientAdmitted has two personal-data fields, encrypted with the
// patient's key.
type PatientAdmitted struct {
	pii.Redactable
	PatientID string `json:"patientId"`
	Name      string `json:"name" pii:"PatientID"`
	Born      string `json:"born" pii:"PatientID"`
	Ward      string `json:"ward"`
}

// patients is a read model that copies names, so it must scrub them when
// a patient is erased.
type patients struct {
	mu sync.Mutex
	m  map[string]string
}

func (v *patients) handlers(keys pii.KeyStore) []projection.Handler {
	return []projection.Handler{
		projection.On(func(_ context.Context, ev PatientAdmitted, _ projection.Meta) error {
			v.mu.Lock()
			defer v.mu.Unlock()
			name := ev.Name
			if pii.IsRedacted(ev, "Name") {
				name = "[erased]"
			}
			v.m[ev.PatientID] = fmt.Sprintf("%s, born %q, ward %s", name, ev.Born, ev.Ward)
			return nil
		}),
		projection.On(func(ctx context.Context, ev pii.SubjectErased, _ projection.Meta) error {
			if err := pii.Sync(ctx, keys); err != nil {
				return err
			}
			v.mu.Lock()
			defer v.mu.Unlock()
			if _, ok := v.m[ev.Subject]; ok {
				v.m[ev.Subject] = "[erased]"
			}
			return nil
		}),
	}
}

func (v *patients) print() {
	v.mu.Lock()
	defer v.mu.Unlock()
	ids := make([]string, 0, len(v.m))
	for id := range v.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Printf("  %s: %s\n", id, v.m[id])
	}
}

// Personal data is encrypted per patient; erasing a patient shreds the
// key, redacts the patient's fields wherever events are decoded, and
// tells projections to scrub their copies.
func Example() {
	ctx := context.Background()
	keys := pii.NewMemory() // kafkakeys.New(ctx, client, "clinic.pii-keys") in a service
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "clinic.PatientAdmitted")
	serde.MustRegister[pii.SubjectErased](reg, pii.SubjectErasedName)
	sd := serde.NewJSON(reg)
	sd.Encryptor = pii.NewEncryptor(keys) // avro.WithEncryption(...) for Avro

	store := memory.New()
	for _, p := range []PatientAdmitted{
		{PatientID: "p-1", Name: "Ada Lovelace", Born: "1815-12-10", Ward: "B"},
		{PatientID: "p-2", Name: "Alan Turing", Born: "1912-06-23", Ward: "C"},
	} {
		name, data, err := sd.Marshal(ctx, p)
		if err != nil {
			panic(err)
		}
		if _, err := store.Append(ctx, "patient-"+p.PatientID, eventstore.NoStream, eventstore.Event{Type: name, Data: data}); err != nil {
			panic(err)
		}
	}

	view := &patients{m: map[string]string{}}
	r, err := projection.New("patients", sd, view.handlers(keys))
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = r.Run(runCtx, projection.FromStore(store)) }()
	if err := r.WaitForEnd(ctx); err != nil {
		panic(err)
	}
	fmt.Println("before:")
	view.print()

	eraser, err := erasure.New(keys, store, sd)
	if err != nil {
		panic(err)
	}
	res, err := eraser.Erase(ctx, "p-1")
	if err != nil {
		panic(err)
	}
	if err := r.WaitFor(ctx, res.Positions[0]); err != nil {
		panic(err)
	}
	fmt.Println("after erasing p-1:")
	view.print()

	// Loading the stream again: the event decodes, its personal fields
	// redacted.
	for ev, err := range store.ReadStream(ctx, "patient-p-1", 1) {
		if err != nil {
			panic(err)
		}
		v, err := sd.Unmarshal(ctx, ev.Type, ev.Data)
		if err != nil {
			panic(err)
		}
		p := v.(PatientAdmitted)
		fmt.Printf("stream patient-p-1: %q %q ward %s, redacted %v\n", p.Name, p.Born, p.Ward, pii.Redacted(p))
	}
	// Output:
	// before:
	//   p-1: Ada Lovelace, born "1815-12-10", ward B
	//   p-2: Alan Turing, born "1912-06-23", ward C
	// after erasing p-1:
	//   p-1: [erased]
	//   p-2: Alan Turing, born "1912-06-23", ward C
	// stream patient-p-1: "" "" ward B, redacted [Name Born]
}
