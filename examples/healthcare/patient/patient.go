// Package patient is the domain of the healthcare example: a hospital
// patient who is admitted, treated and discharged. The patient's name, date
// of birth and the clinical notes are personal data: they are stored
// encrypted with a key of the patient's own, so that erasing the key makes
// them unreadable everywhere, in the log, in snapshots and in every
// replica, while the rest of the history (admissions, treatments, wards)
// stays intact for statistics and audits.
package patient

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// Domain errors returned by the command methods.
var (
	ErrAlreadyAdmitted = errors.New("patient: already admitted")
	ErrNotAdmitted     = errors.New("patient: not admitted")
)

// The events. Fields tagged `pii:"PatientID"` are personal data: the
// serde encrypts them with the key of the patient named by PatientID
// (which stays in plaintext, an opaque ID) and, once that key is erased,
// decodes them as "" with their names in the embedded pii.Redactable
// (read with pii.Redacted). Procedures and wards are not personal: they
// stay readable for statistics.

// Admitted is the first event of every patient's stream.
type Admitted struct {
	pii.Redactable
	PatientID   string `json:"patient_id" avro:"patient_id"`
	Name        string `json:"name" avro:"name" pii:"PatientID"`
	DateOfBirth string `json:"date_of_birth" avro:"date_of_birth" pii:"PatientID"` // a date as text: 1815-12-10
	Ward        string `json:"ward" avro:"ward"`
}

// Treated records a treatment with the clinician's notes.
type Treated struct {
	pii.Redactable
	PatientID string `json:"patient_id" avro:"patient_id"`
	Procedure string `json:"procedure" avro:"procedure"`
	Notes     string `json:"notes" avro:"notes" pii:"PatientID"`
}

// Discharged records that the patient left the hospital.
type Discharged struct {
	pii.Redactable
	PatientID string `json:"patient_id" avro:"patient_id"`
	Summary   string `json:"summary" avro:"summary" pii:"PatientID"`
}

// Register adds the patient events, and the erasure notice that
// projections react to, to reg under stable names.
func Register(reg *serde.Registry) error {
	return errors.Join(
		serde.Register[Admitted](reg, "healthcare.PatientAdmitted"),
		serde.Register[Treated](reg, "healthcare.PatientTreated"),
		serde.Register[Discharged](reg, "healthcare.PatientDischarged"),
		serde.Register[pii.SubjectErased](reg, pii.SubjectErasedName),
	)
}

// Patient is the aggregate.
type Patient struct {
	aggregate.Root
	Name        string
	DateOfBirth string
	Ward        string
	Procedures  []string
	Notes       []string
	Admitted    bool
	Discharged  bool
	// Redacted lists the personal fields that could not be read because
	// the patient was erased (empty for a patient who was not).
	Redacted []string
}

// New returns an empty patient, for aggregate.NewRepository.
func New() *Patient { return &Patient{} }

// Apply changes the state to reflect one event.
func (p *Patient) Apply(event any) {
	for _, f := range pii.Redacted(event) {
		if !slices.Contains(p.Redacted, f) {
			p.Redacted = append(p.Redacted, f)
		}
	}
	switch e := event.(type) {
	case Admitted:
		p.Name, p.DateOfBirth, p.Ward, p.Admitted = e.Name, e.DateOfBirth, e.Ward, true
	case Treated:
		p.Procedures = append(p.Procedures, e.Procedure)
		p.Notes = append(p.Notes, e.Notes)
	case Discharged:
		p.Discharged = true
	}
}

// Admit admits the patient to ward.
func (p *Patient) Admit(name, dateOfBirth, ward string) error {
	if p.Admitted {
		return ErrAlreadyAdmitted
	}
	if name == "" || dateOfBirth == "" || ward == "" {
		return fmt.Errorf("patient: admit: name, date of birth and ward are required")
	}
	aggregate.Raise(p, Admitted{PatientID: p.AggregateID(), Name: name, DateOfBirth: dateOfBirth, Ward: ward})
	return nil
}

// Treat records a procedure and its notes.
func (p *Patient) Treat(procedure, notes string) error {
	if !p.Admitted || p.Discharged {
		return ErrNotAdmitted
	}
	aggregate.Raise(p, Treated{PatientID: p.AggregateID(), Procedure: procedure, Notes: notes})
	return nil
}

// Discharge discharges the patient with a summary.
func (p *Patient) Discharge(summary string) error {
	if !p.Admitted || p.Discharged {
		return ErrNotAdmitted
	}
	aggregate.Raise(p, Discharged{PatientID: p.AggregateID(), Summary: summary})
	return nil
}
