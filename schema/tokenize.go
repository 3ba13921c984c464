package schema

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tName tokKind = iota
	tNumber
	tString
	tOp
	tNewline
	tIndent
	tDedent
	tEOF
)

// token is one Python token. start/end are byte offsets into the source,
// line and col 1-based (col counts bytes, as editors on ASCII code do).
type token struct {
	kind       tokKind
	text       string
	start, end int
	line, col  int
}

// syntaxError is a tokenizer or parser failure at a place in the file.
type syntaxError struct {
	line, col int
	msg       string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

// threeOps and twoOps are Python's multi-character operators, longest first.
var threeOps = []string{"**=", "//=", ">>=", "<<=", "...", "!=="}
var twoOps = []string{"**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@="}

// tokenize splits src into tokens the way Python's tokenizer does for the
// parts that matter here: INDENT/DEDENT from leading whitespace, NEWLINE
// only at the end of a logical line (not inside brackets, not after a
// backslash), comments and blank lines dropped, strings (any prefix,
// triple-quoted, f-strings with nested quotes) kept as one token.
func tokenize(src string) ([]token, error) {
	var toks []token
	indents := []int{0}
	depth := 0
	i, line, lineStart := 0, 1, 0
	atLineStart := true
	emit := func(k tokKind, s, e int) {
		toks = append(toks, token{kind: k, text: src[s:e], start: s, end: e, line: line, col: s - lineStart + 1})
	}
	for i < len(src) {
		if atLineStart && depth == 0 {
			// Measure indentation; blank and comment-only lines do not count.
			j, width := i, 0
			for j < len(src) && (src[j] == ' ' || src[j] == '\t' || src[j] == '\f') {
				if src[j] == '\t' {
					width = (width/8 + 1) * 8
				} else if src[j] == ' ' {
					width++
				}
				j++
			}
			if j >= len(src) {
				i = j
				break
			}
			if src[j] == '#' || src[j] == '\n' || src[j] == '\r' || (src[j] == '\\' && j+1 < len(src) && (src[j+1] == '\n' || src[j+1] == '\r')) {
				for j < len(src) && src[j] != '\n' && src[j] != '\r' {
					j++
				}
				i = j
				if j == len(src) {
					break // a last line without a newline is not followed by another
				}
				if src[j] == '\r' && j+1 < len(src) && src[j+1] == '\n' {
					j++
				}
				i = j + 1
				line++
				lineStart = i
				continue
			}
			atLineStart = false
			switch top := indents[len(indents)-1]; {
			case width > top:
				indents = append(indents, width)
				emit(tIndent, i, j)
			case width < top:
				for width < indents[len(indents)-1] {
					indents = indents[:len(indents)-1]
					emit(tDedent, j, j)
				}
				if width != indents[len(indents)-1] {
					return nil, &syntaxError{line, j - lineStart + 1, "unindent does not match any outer indentation level"}
				}
			}
			i = j
		}
		c := src[i]
		switch {
		case c == '\n' || c == '\r':
			if depth == 0 && len(toks) > 0 && toks[len(toks)-1].kind != tNewline {
				emit(tNewline, i, i)
			}
			if c == '\r' && i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			i++
			line++
			lineStart = i
			atLineStart = depth == 0
		case c == ' ' || c == '\t' || c == '\f':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' && src[i] != '\r' {
				i++
			}
		case c == '\\':
			// Explicit line joining.
			j := i + 1
			if j < len(src) && src[j] == '\r' {
				j++
			}
			if j < len(src) && src[j] == '\n' {
				j++
			}
			if j == i+1 {
				return nil, &syntaxError{line, i - lineStart + 1, "unexpected character after line continuation character"}
			}
			i = j
			line++
			lineStart = i
		case isIdentStart(c) || c >= 0x80:
			// Identifiers may hold any non-ASCII letters (PEP 3131).
			j := i
			for j < len(src) && (isIdentChar(src[j]) || src[j] >= 0x80) {
				j++
			}
			if j < len(src) && (src[j] == '"' || src[j] == '\'') && isStringPrefix(src[i:j]) {
				end, nl, err := scanString(src, i, j)
				if err != nil {
					return nil, &syntaxError{line, i - lineStart + 1, err.Error()}
				}
				emit(tString, i, end)
				line, lineStart = advanceLines(src, i, end, line, lineStart, nl)
				i = end
				continue
			}
			emit(tName, i, j)
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := scanNumber(src, i)
			emit(tNumber, i, j)
			i = j
		case c == '"' || c == '\'':
			end, nl, err := scanString(src, i, i)
			if err != nil {
				return nil, &syntaxError{line, i - lineStart + 1, err.Error()}
			}
			emit(tString, i, end)
			line, lineStart = advanceLines(src, i, end, line, lineStart, nl)
			i = end
		default:
			n := 1
			for _, ops := range [][]string{threeOps, twoOps} {
				for _, op := range ops {
					if strings.HasPrefix(src[i:], op) {
						n = len(op)
						break
					}
				}
				if n > 1 {
					break
				}
			}
			switch c {
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				if depth > 0 {
					depth--
				}
			}
			emit(tOp, i, i+n)
			i += n
		}
	}
	if len(toks) > 0 && toks[len(toks)-1].kind != tNewline {
		emit(tNewline, i, i)
	}
	for len(indents) > 1 {
		indents = indents[:len(indents)-1]
		emit(tDedent, i, i)
	}
	emit(tEOF, i, i)
	return toks, nil
}

func advanceLines(src string, s, e, line, lineStart, nl int) (int, int) {
	if nl == 0 {
		return line, lineStart
	}
	return line + nl, strings.LastIndexByte(src[:e], '\n') + 1
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isStringPrefix(p string) bool {
	switch strings.ToLower(p) {
	case "r", "u", "b", "f", "br", "rb", "fr", "rf", "t", "tr", "rt":
		return true
	}
	return false
}

func scanNumber(src string, i int) int {
	j := i
	for j < len(src) {
		c := src[j]
		switch {
		case isIdentChar(c) || c == '.':
			j++
		case (c == '+' || c == '-') && j > i && (src[j-1] == 'e' || src[j-1] == 'E') && !strings.HasPrefix(strings.ToLower(src[i:j]), "0x"):
			j++
		default:
			return j
		}
	}
	return j
}

// scanString scans the string literal whose prefix starts at s and whose
// quote is at q; it returns the end offset and how many newlines it spans.
func scanString(src string, s, q int) (int, int, error) {
	prefix := strings.ToLower(src[s:q])
	fstr := strings.Contains(prefix, "f") || strings.Contains(prefix, "t")
	raw := strings.Contains(prefix, "r")
	quote := src[q : q+1]
	if strings.HasPrefix(src[q:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	nl := 0
	i := q + len(quote)
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\\':
			if raw && i+1 < len(src) && (src[i+1] == '{' || src[i+1] == '}') {
				// In a raw f-string a backslash does not escape a brace.
				i++
				continue
			}
			if i+1 < len(src) && src[i+1] == '\n' {
				nl++
			}
			i += 2
			continue
		case c == '\n':
			if len(quote) == 1 {
				return 0, 0, fmt.Errorf("unterminated string literal")
			}
			nl++
		case fstr && c == '{':
			if i+1 < len(src) && src[i+1] == '{' {
				i += 2
				continue
			}
			end, n, err := scanFExpr(src, i+1)
			if err != nil {
				return 0, 0, err
			}
			nl += n
			i = end
			continue
		case strings.HasPrefix(src[i:], quote):
			return i + len(quote), nl, nil
		}
		i++
	}
	return 0, 0, fmt.Errorf("unterminated string literal")
}

// scanFExpr skips a replacement field of an f-string, from after its "{"
// to after its "}", including nested brackets and strings (Python 3.12
// lets those reuse the outer quote).
func scanFExpr(src string, i int) (int, int, error) {
	depth, nl, spec := 0, 0, false
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			nl++
		case c == ':' && depth == 0:
			spec = true
		case c == '#' && !spec:
			// A comment inside a multi-line replacement field (PEP 701);
			// in the format spec ("{x:#x}") it is a literal.
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == '}':
			if depth == 0 {
				return i + 1, nl, nil
			}
			depth--
		case c == '"' || c == '\'':
			end, n, err := scanString(src, i, i)
			if err != nil {
				return 0, 0, err
			}
			nl += n
			i = end
			continue
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			if j < len(src) && (src[j] == '"' || src[j] == '\'') && isStringPrefix(src[i:j]) {
				end, n, err := scanString(src, i, j)
				if err != nil {
					return 0, 0, err
				}
				nl += n
				i = end
				continue
			}
			i = j
			continue
		}
		i++
	}
	return 0, 0, fmt.Errorf("unterminated f-string")
}
