package pii_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// Mark personal data with `pii` tags, give the serde an encryptor, and
// check pii.Redacted after decoding.
func Example() {
	ctx := context.Background()
	type PatientAdmitted struct {
		pii.Redactable
		PatientID string `json:"patientId"`
		Name      string `json:"name" pii:"PatientID"`
		Ward      string `json:"ward"`
	}
	keys := pii.NewMemory()
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "clinic.PatientAdmitted")
	sd := serde.NewJSON(reg)
	sd.Encryptor = pii.NewEncryptor(keys)

	name, data, _ := sd.Marshal(ctx, PatientAdmitted{PatientID: "p-1", Name: "Ada Lovelace", Ward: "B"})
	fmt.Println("stored name is an envelope:", strings.Contains(string(data), `"name":"pii:`), !strings.Contains(string(data), "Ada"))

	_ = keys.Erase(ctx, "p-1")
	v, err := sd.Unmarshal(ctx, name, data)
	p := v.(PatientAdmitted)
	fmt.Printf("name %q ward %q redacted %v error %v\n", p.Name, p.Ward, pii.Redacted(p), err)
	// Output:
	// stored name is an envelope: true true
	// name "" ward "B" redacted [Name] error <nil>
}
