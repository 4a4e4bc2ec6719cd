package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/examples/healthcare/patient"
	"github.com/kafkaes/kafkaes/projection"
)

// person is a patient of the scripted story.
type person struct {
	id, name, born, ward string
}

// scenario runs the scripted story and prints it.
func scenario(ctx context.Context, w io.Writer, env *env) error {
	repo := aggregate.NewRepository(env.store, env.serde, patient.New)
	step := func(title string) { fmt.Fprintf(w, "\n== %s\n", title) }
	show := func(p *patient.Patient) {
		name := p.Name
		if name == "" {
			name = "[redacted]"
		}
		fmt.Fprintf(w, "   %s: name=%q born=%q ward=%s procedures=%s notes=%q discharged=%v version=%d",
			p.AggregateID(), name, p.DateOfBirth, p.Ward, strings.Join(p.Procedures, ","), p.Notes, p.Discharged, p.AggregateVersion())
		if len(p.Redacted) > 0 {
			fmt.Fprintf(w, " redacted=%v", p.Redacted)
		}
		fmt.Fprintln(w)
	}
	people := []person{
		{"pat-ada" + env.idSuffix, "Ada Lovelace", "1815-12-10", "cardiology"},
		{"pat-alan" + env.idSuffix, "Alan Turing", "1912-06-23", "neurology"},
		{"pat-grace" + env.idSuffix, "Grace Hopper", "1906-12-09", "cardiology"},
	}

	step("admit, treat and discharge patients")
	for i, pp := range people {
		if _, err := repo.Update(ctx, pp.id, func(p *patient.Patient) error { return p.Admit(pp.name, pp.born, pp.ward) }); err != nil {
			return err
		}
		if _, err := repo.Update(ctx, pp.id, func(p *patient.Patient) error {
			return p.Treat("examination", fmt.Sprintf("%s reports chest pain since %d days", pp.name, i+2))
		}); err != nil {
			return err
		}
	}
	p, err := repo.Update(ctx, people[1].id, func(p *patient.Patient) error {
		return p.Discharge("discharged home, follow-up in two weeks")
	})
	if err != nil {
		return err
	}
	show(p)

	b := newBoard()
	runner, err := projection.New("ward-board", env.serde, b.handlers(env.keys))
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx, projection.FromStore(env.store)) }()
	defer func() { stop(); <-done }()
	if err := runner.WaitForEnd(ctx); err != nil {
		return err
	}
	board := func(title string) {
		step(title)
		for _, l := range b.lines() {
			fmt.Fprintf(w, "   %s\n", l)
		}
	}
	board("the ward board (a projection)")

	// The right to erasure: delete the patient's key. The events stay in
	// the log (the admission, treatment and discharge still count in the
	// statistics), their personal fields unreadable forever, in every
	// copy of the topic.
	alan := people[1]
	step("erase a patient (GDPR article 17)")
	fmt.Fprintf(w, "   erasing patient %s (%s): the patient's key is deleted\n", alan.id, alan.name)
	res, err := env.eraser.Erase(ctx, alan.id)
	if err != nil {
		return err
	}
	if err := runner.WaitFor(ctx, res.Positions...); err != nil {
		return err
	}

	step("after the erasure: loads of the aggregate")
	fresh := aggregate.NewRepository(env.store, env.serde, patient.New)
	for _, pp := range people {
		p, err := fresh.Load(ctx, pp.id)
		if err != nil {
			return err
		}
		show(p)
	}
	board("after the erasure: the ward board")
	return nil
}
