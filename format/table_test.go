package format

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	var b strings.Builder
	err := Table(&b,
		[]string{"group", "TOPIC", "PARTITION", "CURRENT-OFFSET", "CONSUMER-ID"},
		[][]string{
			{"billing", "orders", "0", "12", "consumer-1"},
			{"billing", "orders-eu", "10", "", "a b"},
			{"billing", "line\nbreak", "1"},
		})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"GROUP     TOPIC         PARTITION   CURRENT-OFFSET   CONSUMER-ID\n" +
		"billing   orders        0           12               consumer-1\n" +
		"billing   orders-eu     10          -                a b\n" +
		"billing   line\\nbreak   1           -                -\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTableEmpty(t *testing.T) {
	var b strings.Builder
	if err := Table(&b, []string{"TOPIC", "PARTITIONS"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "TOPIC   PARTITIONS\n" {
		t.Errorf("got %q", got)
	}
}

func TestKeyValues(t *testing.T) {
	var b strings.Builder
	KeyValues(&b, [][2]string{{"Topic", "orders"}, {"Partitions", "3"}, {"Cleanup-Policy", ""}})
	want := "" +
		"Topic:           orders\n" +
		"Partitions:      3\n" +
		"Cleanup-Policy:  -\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestIntOrMissing(t *testing.T) {
	if IntOrMissing(-1) != "-" || IntOrMissing(0) != "0" || IntOrMissing(1234567) != "1234567" {
		t.Errorf("IntOrMissing")
	}
}

func TestJSON(t *testing.T) {
	var b strings.Builder
	v := struct {
		Topic      string `json:"topic"`
		Partitions []int  `json:"partitions"`
		Note       string `json:"note"`
	}{"orders", []int{0, 1}, "<a&b>"}
	if err := JSON(&b, v); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"topic\": \"orders\",\n  \"partitions\": [\n    0,\n    1\n  ],\n  \"note\": \"<a&b>\"\n}\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
