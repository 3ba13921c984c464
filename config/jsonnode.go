package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"

	"go.yaml.in/yaml/v3"
)

// jsonNodes parses JSON into the same yaml.Node tree the cog.yaml walker
// uses, with the line and column of every value. yaml.v3 cannot read all
// JSON itself (it rejects "\/" and surrogate-pair escapes), and
// encoding/json keeps no positions, so the tree is built from
// encoding/json's token stream and its byte offsets.
func jsonNodes(filename string, data []byte) (*yaml.Node, error) {
	if !json.Valid(data) {
		// Unmarshal only to get the *SyntaxError with its offset.
		var probe any
		return nil, jsonSyntaxError(filename, data, json.Unmarshal(data, &probe))
	}
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data)), lines: lineStarts(data)}
	p.dec.UseNumber()
	return p.value()
}

type jsonParser struct {
	data  []byte
	dec   *json.Decoder
	lines []int
}

// next returns the next token and where it starts.
func (p *jsonParser) next() (json.Token, int, int, error) {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && bytes.IndexByte([]byte(" \t\r\n,:"), p.data[off]) >= 0 {
		off++
	}
	tok, err := p.dec.Token()
	line, col := p.lineCol(off)
	return tok, line, col, err
}

func (p *jsonParser) value() (*yaml.Node, error) {
	tok, line, col, err := p.next()
	if err != nil {
		return nil, err
	}
	n := &yaml.Node{Line: line, Column: col}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		} else {
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		}
		for p.dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := p.value()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, k)
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if _, err := p.dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
	case string:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!str", t
	case json.Number:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!float", t.String()
		if _, err := t.Int64(); err == nil {
			n.Tag = "!!int"
		}
	case bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", "false"
		if t {
			n.Value = "true"
		}
	case nil:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
	default:
		return nil, errors.New("unexpected JSON token")
	}
	return n, nil
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func (p *jsonParser) lineCol(off int) (int, int) {
	i := sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return i + 1, off - p.lines[i] + 1
}

func jsonSyntaxError(filename string, data []byte, err error) error {
	pos := Position{File: filename}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		p := &jsonParser{data: data, lines: lineStarts(data)}
		// Offset counts the bytes read, including the offending one.
		pos.Line, pos.Column = p.lineCol(max(int(se.Offset)-1, 0))
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "the file ends in the middle of a value"
	}
	return &Error{Pos: pos, Msg: message("not valid JSON: "+msg, "", "")}
}
