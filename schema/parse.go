package schema

type exprKind int

const (
	eName      exprKind = iota
	eAttr               // x.name
	eSubscript          // x[args]
	eCall               // x(args, kw=...)
	eString             // one or more adjacent string literals
	eNumber
	eConst // True, False, None, ...
	eList
	eTuple
	eDict
	eSet
	eUnary  // op x
	eBinary // x op y
	eOther  // anything else, kept as its source text
)

// expr is an expression, with its source span so that callers can read
// its text exactly as written (Cog reads literals from their text).
type expr struct {
	kind      exprKind
	start     int
	end       int
	line, col int
	name      string  // eName/eConst: the name; eAttr: the attribute
	op        string  // eUnary/eBinary
	x, y      *expr   // eAttr/eSubscript/eCall: the object; eUnary/eBinary: operands
	items     []*expr // subscript elements, call positional args, list/tuple/set items, dict keys
	values    []*expr // dict values
	kwargs    []kwarg // call keyword arguments
}

type kwarg struct {
	name  string
	value *expr
}

type stmtKind int

const (
	sImport stmtKind = iota
	sImportFrom
	sClass
	sDef
	sAssign
	sReturn
	sOther
)

type alias struct{ name, as string }

// stmt is a statement the schema cares about; everything else is sOther.
type stmt struct {
	kind       stmtKind
	line, col  int
	module     string  // sImportFrom, with leading dots
	names      []alias // sImport/sImportFrom
	name       string  // sClass/sDef
	nameLine   int
	nameCol    int
	async      bool
	decorators []*expr
	bases      []*expr // sClass positional bases
	keywords   []kwarg // sClass keywords (total=False, metaclass=...)
	params     []param
	returns    *expr
	body       []*stmt
	targets    []*expr // sAssign: one per "=" (a = b = 1 has two)
	ann        *expr   // sAssign with an annotation
	value      *expr   // sAssign/sReturn
}

type param struct {
	name      string
	star      int // 1 for *args, 2 for **kwargs
	ann, def  *expr
	line, col int
}

type parser struct {
	src  string
	toks []token
	i    int
}

// parseModule parses a whole Python file into its top-level statements.
func parseModule(src string) ([]*stmt, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	var out []*stmt
	for p.peek().kind != tEOF {
		if p.peek().kind == tNewline || p.peek().kind == tIndent || p.peek().kind == tDedent {
			if p.peek().kind == tIndent {
				return nil, p.errAt(p.peek(), "unexpected indent")
			}
			p.i++
			continue
		}
		ss, err := p.statement()
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	return out, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) isOp(s string) bool   { t := p.peek(); return t.kind == tOp && t.text == s }
func (p *parser) isName(s string) bool { t := p.peek(); return t.kind == tName && t.text == s }

func (p *parser) errAt(t token, msg string) error {
	return &syntaxError{line: t.line, col: t.col, msg: msg}
}

func (p *parser) expectOp(s string) (token, error) {
	if !p.isOp(s) {
		t := p.peek()
		got := t.text
		if t.kind == tNewline {
			got = "end of line"
		}
		return t, p.errAt(t, "expected '"+s+"', got '"+got+"'")
	}
	return p.next(), nil
}

var compoundKeywords = map[string]bool{"if": true, "elif": true, "else": true, "for": true, "while": true, "try": true, "except": true, "finally": true, "with": true}

// statement parses one statement (a simple-statement line may hold
// several, separated by ";").
func (p *parser) statement() ([]*stmt, error) {
	t := p.peek()
	switch {
	case t.kind == tOp && t.text == "@":
		var decos []*expr
		for p.isOp("@") {
			p.next()
			d, err := p.expression()
			if err != nil {
				return nil, err
			}
			decos = append(decos, d)
			if err := p.endLine(); err != nil {
				return nil, err
			}
		}
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		if len(s) == 1 && (s[0].kind == sClass || s[0].kind == sDef) {
			s[0].decorators = decos
		}
		return s, nil
	case t.kind == tName && t.text == "class":
		s, err := p.classDef()
		return []*stmt{s}, err
	case t.kind == tName && t.text == "def":
		s, err := p.funcDef(false)
		return []*stmt{s}, err
	case t.kind == tName && t.text == "async" && p.peekN(1).kind == tName && p.peekN(1).text == "def":
		p.next()
		s, err := p.funcDef(true)
		return []*stmt{s}, err
	case t.kind == tName && (compoundKeywords[t.text] || t.text == "async" || p.softCompound()):
		return []*stmt{{kind: sOther, line: t.line, col: t.col}}, p.skipCompound()
	}
	var out []*stmt
	for {
		s, err := p.simple()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if p.isOp(";") {
			p.next()
			if p.peek().kind == tNewline || p.peek().kind == tEOF {
				break
			}
			continue
		}
		break
	}
	return out, p.endLine()
}

// softCompound tells match/case statements (soft keywords) from names:
// they are compound when their logical line ends with ":".
func (p *parser) softCompound() bool {
	t := p.peek()
	if t.text != "match" && t.text != "case" {
		return false
	}
	nt := p.peekN(1)
	if nt.kind == tOp && (nt.text == "=" || nt.text == "." || nt.text == ":" || nt.text == ",") || nt.kind == tNewline {
		return false
	}
	for j := p.i; j < len(p.toks); j++ {
		if p.toks[j].kind == tNewline || p.toks[j].kind == tEOF {
			return j > p.i && p.toks[j-1].kind == tOp && p.toks[j-1].text == ":"
		}
	}
	return false
}

func (p *parser) endLine() error {
	t := p.peek()
	if t.kind == tNewline {
		p.next()
		return nil
	}
	if t.kind == tEOF || t.kind == tDedent {
		return nil
	}
	return p.errAt(t, "invalid syntax near '"+t.text+"'")
}

// skipCompound skips a compound statement whose body is not needed: the
// header up to its ":" and the suite after it.
func (p *parser) skipCompound() error {
	depth := 0
	for {
		t := p.next()
		switch {
		case t.kind == tEOF:
			return p.errAt(t, "unexpected end of file")
		case t.kind == tNewline:
			return p.errAt(t, "expected ':'")
		case t.kind == tOp && (t.text == "(" || t.text == "[" || t.text == "{"):
			depth++
		case t.kind == tOp && (t.text == ")" || t.text == "]" || t.text == "}"):
			depth--
		case t.kind == tName && t.text == "lambda" && depth == 0:
			// A lambda's own ":" is not the header's.
			for !p.isOp(":") && p.peek().kind != tNewline && p.peek().kind != tEOF {
				p.next()
			}
			p.next()
		case t.kind == tOp && t.text == ":" && depth == 0:
			_, err := p.suite()
			return err
		}
	}
}

// suite parses the body after a ":": statements on the same line, or an
// indented block.
func (p *parser) suite() ([]*stmt, error) {
	if p.peek().kind != tNewline {
		var out []*stmt
		for {
			s, err := p.simple()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			if !p.isOp(";") {
				break
			}
			p.next()
			if p.peek().kind == tNewline {
				break
			}
		}
		return out, p.endLine()
	}
	p.next()
	if p.peek().kind != tIndent {
		return nil, p.errAt(p.peek(), "expected an indented block")
	}
	p.next()
	var out []*stmt
	for p.peek().kind != tDedent && p.peek().kind != tEOF {
		if p.peek().kind == tNewline {
			p.next()
			continue
		}
		ss, err := p.statement()
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	if p.peek().kind == tDedent {
		p.next()
	}
	return out, nil
}

func (p *parser) classDef() (*stmt, error) {
	kw := p.next()
	nameTok := p.next()
	if nameTok.kind != tName {
		return nil, p.errAt(nameTok, "expected a class name")
	}
	s := &stmt{kind: sClass, line: kw.line, col: kw.col, name: nameTok.text, nameLine: nameTok.line, nameCol: nameTok.col}
	if p.isOp("[") { // PEP 695 type parameters
		if err := p.skipBalanced(); err != nil {
			return nil, err
		}
	}
	if p.isOp("(") {
		call, err := p.arguments(&expr{})
		if err != nil {
			return nil, err
		}
		s.bases, s.keywords = call.items, call.kwargs
	}
	if _, err := p.expectOp(":"); err != nil {
		return nil, err
	}
	body, err := p.suite()
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, nil
}

func (p *parser) funcDef(async bool) (*stmt, error) {
	kw := p.next()
	nameTok := p.next()
	if nameTok.kind != tName {
		return nil, p.errAt(nameTok, "expected a function name")
	}
	s := &stmt{kind: sDef, line: kw.line, col: kw.col, name: nameTok.text, nameLine: nameTok.line, nameCol: nameTok.col, async: async}
	if p.isOp("[") {
		if err := p.skipBalanced(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	for !p.isOp(")") {
		t := p.peek()
		pr := param{line: t.line, col: t.col}
		switch {
		case p.isOp("*"):
			p.next()
			pr.star = 1
		case p.isOp("**"):
			p.next()
			pr.star = 2
		case p.isOp("/"):
			p.next()
			if !p.isOp(")") {
				if _, err := p.expectOp(","); err != nil {
					return nil, err
				}
			}
			continue
		}
		if p.peek().kind == tName {
			pr.name = p.next().text
		} else if pr.star != 1 {
			return nil, p.errAt(p.peek(), "expected a parameter name")
		}
		if p.isOp(":") {
			p.next()
			a, err := p.expression()
			if err != nil {
				return nil, err
			}
			pr.ann = a
		}
		if p.isOp("=") {
			p.next()
			d, err := p.expression()
			if err != nil {
				return nil, err
			}
			pr.def = d
		}
		if pr.name != "" {
			s.params = append(s.params, pr)
		}
		if !p.isOp(")") {
			if _, err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
	}
	p.next()
	if p.isOp("->") {
		p.next()
		r, err := p.expression()
		if err != nil {
			return nil, err
		}
		s.returns = r
	}
	if _, err := p.expectOp(":"); err != nil {
		return nil, err
	}
	body, err := p.suite()
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, nil
}

// simpleKeywords start simple statements whose content does not matter.
var simpleKeywords = map[string]bool{"pass": true, "raise": true, "break": true, "continue": true, "del": true, "global": true, "nonlocal": true, "assert": true}

// simple parses one simple statement.
func (p *parser) simple() (*stmt, error) {
	t := p.peek()
	s := &stmt{kind: sOther, line: t.line, col: t.col}
	switch {
	case t.kind == tName && t.text == "import":
		p.next()
		s.kind = sImport
		for {
			name, err := p.dottedName()
			if err != nil {
				return nil, err
			}
			a := alias{name: name, as: name}
			if p.isName("as") {
				p.next()
				a.as = p.next().text
			}
			s.names = append(s.names, a)
			if !p.isOp(",") {
				break
			}
			p.next()
		}
		return s, nil
	case t.kind == tName && t.text == "from":
		p.next()
		s.kind = sImportFrom
		mod := ""
		for p.isOp(".") || p.isOp("...") {
			mod += p.next().text
		}
		if !p.isName("import") {
			name, err := p.dottedName()
			if err != nil {
				return nil, err
			}
			mod += name
		}
		s.module = mod
		if !p.isName("import") {
			return nil, p.errAt(p.peek(), "expected 'import'")
		}
		p.next()
		paren := p.isOp("(")
		if paren {
			p.next()
		}
		for {
			if paren && p.isOp(")") {
				break
			}
			nt := p.next()
			if nt.kind != tName && !(nt.kind == tOp && nt.text == "*") {
				return nil, p.errAt(nt, "expected a name to import")
			}
			a := alias{name: nt.text, as: nt.text}
			if p.isName("as") {
				p.next()
				a.as = p.next().text
			}
			s.names = append(s.names, a)
			if !p.isOp(",") {
				break
			}
			p.next()
		}
		if paren {
			if _, err := p.expectOp(")"); err != nil {
				return nil, err
			}
		}
		return s, nil
	case t.kind == tName && t.text == "return":
		p.next()
		s.kind = sReturn
		if p.peek().kind != tNewline && !p.isOp(";") && p.peek().kind != tEOF {
			v, err := p.exprList()
			if err != nil {
				return nil, err
			}
			s.value = v
		}
		return s, nil
	}
	if t.kind == tName && simpleKeywords[t.text] {
		p.skipRest()
		return s, nil
	}
	first, err := p.exprList()
	if err != nil {
		return nil, err
	}
	switch {
	case p.isOp(":"):
		p.next()
		ann, err := p.expression()
		if err != nil {
			return nil, err
		}
		s.kind, s.targets, s.ann = sAssign, []*expr{first}, ann
		if p.isOp("=") {
			p.next()
			v, err := p.exprList()
			if err != nil {
				return nil, err
			}
			s.value = v
		}
	case p.isOp("="):
		s.kind = sAssign
		s.targets = []*expr{first}
		for p.isOp("=") {
			p.next()
			v, err := p.exprList()
			if err != nil {
				return nil, err
			}
			s.targets = append(s.targets, v)
		}
		s.value = s.targets[len(s.targets)-1]
		s.targets = s.targets[:len(s.targets)-1]
	default:
		// Augmented assignment and keyword statements (pass, raise, del,
		// global, assert, ...): skip the rest of the statement.
		p.skipRest()
	}
	return s, nil
}

// skipRest skips to the end of the simple statement.
func (p *parser) skipRest() {
	depth := 0
	for {
		t := p.peek()
		if t.kind == tEOF || depth == 0 && (t.kind == tNewline || t.kind == tOp && t.text == ";") {
			return
		}
		if t.kind == tOp && (t.text == "(" || t.text == "[" || t.text == "{") {
			depth++
		}
		if t.kind == tOp && (t.text == ")" || t.text == "]" || t.text == "}") {
			depth--
		}
		p.next()
	}
}

func (p *parser) skipBalanced() error {
	depth := 0
	for {
		t := p.next()
		if t.kind == tEOF {
			return p.errAt(t, "unexpected end of file")
		}
		if t.kind == tOp && (t.text == "(" || t.text == "[" || t.text == "{") {
			depth++
		}
		if t.kind == tOp && (t.text == ")" || t.text == "]" || t.text == "}") {
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}

func (p *parser) dottedName() (string, error) {
	t := p.next()
	if t.kind != tName {
		return "", p.errAt(t, "expected a module name")
	}
	name := t.text
	for p.isOp(".") {
		p.next()
		t := p.next()
		if t.kind != tName {
			return "", p.errAt(t, "expected a name after '.'")
		}
		name += "." + t.text
	}
	return name, nil
}

func (p *parser) span(kind exprKind, first token) *expr {
	end := p.toks[p.i-1].end
	return &expr{kind: kind, start: first.start, end: end, line: first.line, col: first.col}
}

// exprList parses "a, b" (a tuple without brackets) or a single expression.
func (p *parser) exprList() (*expr, error) {
	first := p.peek()
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	if !p.isOp(",") {
		return e, nil
	}
	items := []*expr{e}
	for p.isOp(",") {
		p.next()
		if p.endsList() {
			break
		}
		x, err := p.expression()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	t := p.span(eTuple, first)
	t.items = items
	return t, nil
}

func (p *parser) endsList() bool {
	t := p.peek()
	return t.kind == tNewline || t.kind == tEOF || t.kind == tOp && (t.text == "=" || t.text == ")" || t.text == "]" || t.text == "}" || t.text == ";" || t.text == ":")
}

// binary operator precedence, loosest first (Python's grammar).
var binPrec = map[string]int{
	"or": 1, "and": 2,
	"<": 4, ">": 4, "==": 4, ">=": 4, "<=": 4, "!=": 4, "in": 4, "is": 4, "not": 4,
	"|": 5, "^": 6, "&": 7, "<<": 8, ">>": 8, "+": 9, "-": 9,
	"*": 10, "/": 10, "//": 10, "%": 10, "@": 10,
}

// expression parses one expression: a lambda, a conditional, a walrus or a
// binary expression.
func (p *parser) expression() (*expr, error) {
	first := p.peek()
	if p.isName("lambda") {
		p.next()
		// Parameters, whose defaults may be lambdas themselves.
		for !p.isOp(":") {
			if p.isOp("*") || p.isOp("**") || p.isOp("/") || p.isOp(",") {
				p.next()
				continue
			}
			if p.next().kind != tName {
				return nil, p.errAt(p.toks[p.i-1], "invalid lambda parameter")
			}
			if p.isOp("=") {
				p.next()
				if _, err := p.expression(); err != nil {
					return nil, err
				}
			}
		}
		p.next()
		if _, err := p.expression(); err != nil {
			return nil, err
		}
		return p.span(eOther, first), nil
	}
	if p.isName("yield") {
		p.next()
		if p.isName("from") {
			p.next()
		}
		if !p.endsList() && !p.isOp(",") {
			if _, err := p.expression(); err != nil {
				return nil, err
			}
		}
		return p.span(eOther, first), nil
	}
	e, err := p.binary(1)
	if err != nil {
		return nil, err
	}
	if p.isName("if") && p.peek().kind == tName {
		p.next()
		if _, err := p.binary(1); err != nil {
			return nil, err
		}
		if !p.isName("else") {
			return nil, p.errAt(p.peek(), "expected 'else' in conditional expression")
		}
		p.next()
		if _, err := p.expression(); err != nil {
			return nil, err
		}
		return p.span(eOther, first), nil
	}
	if p.isOp(":=") {
		p.next()
		if _, err := p.expression(); err != nil {
			return nil, err
		}
		return p.span(eOther, first), nil
	}
	return e, nil
}

func (p *parser) binOp() (string, int) {
	t := p.peek()
	if t.kind == tOp {
		if pr, ok := binPrec[t.text]; ok {
			return t.text, pr
		}
		return "", 0
	}
	if t.kind == tName {
		switch t.text {
		case "or", "and", "in", "is":
			return t.text, binPrec[t.text]
		case "not":
			if nt := p.peekN(1); nt.kind == tName && nt.text == "in" {
				return "not", binPrec["not"]
			}
		}
	}
	return "", 0
}

func (p *parser) binary(minPrec int) (*expr, error) {
	first := p.peek()
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op, prec := p.binOp()
		if prec == 0 || prec < minPrec {
			return left, nil
		}
		p.next()
		if op == "not" || op == "is" && p.isName("not") {
			p.next()
		}
		right, err := p.binary(prec + 1)
		if err != nil {
			return nil, err
		}
		b := p.span(eBinary, first)
		b.op, b.x, b.y = op, left, right
		left = b
	}
}

func (p *parser) unary() (*expr, error) {
	first := p.peek()
	if p.isOp("-") || p.isOp("+") || p.isOp("~") || p.isName("not") {
		op := p.next().text
		prec := 11
		if op == "not" {
			prec = 3
		}
		var x *expr
		var err error
		if op == "not" {
			x, err = p.binary(prec)
		} else {
			x, err = p.unary()
		}
		if err != nil {
			return nil, err
		}
		u := p.span(eUnary, first)
		u.op, u.x = op, x
		return u, nil
	}
	if p.isOp("*") || p.isOp("**") {
		p.next()
		if _, err := p.binary(5); err != nil {
			return nil, err
		}
		return p.span(eOther, first), nil
	}
	return p.power()
}

func (p *parser) power() (*expr, error) {
	first := p.peek()
	if p.isName("await") {
		p.next()
		if _, err := p.power(); err != nil {
			return nil, err
		}
		return p.span(eOther, first), nil
	}
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.isOp("**") {
		p.next()
		if _, err := p.unary(); err != nil {
			return nil, err
		}
		return p.span(eOther, first), nil
	}
	return e, nil
}

func (p *parser) primary() (*expr, error) {
	first := p.peek()
	e, err := p.atom()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			nt := p.next()
			if nt.kind != tName {
				return nil, p.errAt(nt, "expected a name after '.'")
			}
			a := p.span(eAttr, first)
			a.x, a.name = e, nt.text
			e = a
		case p.isOp("["):
			p.next()
			s := &expr{kind: eSubscript, x: e}
			for !p.isOp("]") {
				item, err := p.sliceItem()
				if err != nil {
					return nil, err
				}
				s.items = append(s.items, item)
				if !p.isOp("]") {
					if _, err := p.expectOp(","); err != nil {
						return nil, err
					}
				}
			}
			p.next()
			sp := p.span(eSubscript, first)
			sp.x, sp.items = e, s.items
			e = sp
		case p.isOp("("):
			c, err := p.arguments(e)
			if err != nil {
				return nil, err
			}
			sp := p.span(eCall, first)
			sp.x, sp.items, sp.kwargs = e, c.items, c.kwargs
			e = sp
		default:
			return e, nil
		}
	}
}

func (p *parser) sliceItem() (*expr, error) {
	first := p.peek()
	var e *expr
	if !p.isOp(":") {
		x, err := p.expression()
		if err != nil {
			return nil, err
		}
		e = x
	}
	if !p.isOp(":") {
		return e, nil
	}
	for p.isOp(":") {
		p.next()
		if !p.isOp(":") && !p.isOp("]") && !p.isOp(",") {
			if _, err := p.expression(); err != nil {
				return nil, err
			}
		}
	}
	return p.span(eOther, first), nil
}

// arguments parses "(...)" after callee, into positional items and
// keyword arguments; *args, **kwargs and generator arguments are kept as
// eOther items.
func (p *parser) arguments(callee *expr) (*expr, error) {
	p.next()
	c := &expr{kind: eCall, x: callee}
	for !p.isOp(")") {
		if p.peek().kind == tName && p.peekN(1).kind == tOp && p.peekN(1).text == "=" {
			name := p.next().text
			p.next()
			v, err := p.expression()
			if err != nil {
				return nil, err
			}
			c.kwargs = append(c.kwargs, kwarg{name: name, value: v})
		} else {
			first := p.peek()
			v, err := p.expression()
			if err != nil {
				return nil, err
			}
			if p.isName("for") || p.isName("async") {
				if err := p.skipComprehension(")"); err != nil {
					return nil, err
				}
				v = p.span(eOther, first)
			}
			c.items = append(c.items, v)
		}
		if !p.isOp(")") {
			if _, err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
	}
	p.next()
	return c, nil
}

// skipComprehension skips "for ... in ... if ..." up to (not past) the
// closing bracket.
func (p *parser) skipComprehension(closing string) error {
	depth := 0
	for {
		t := p.peek()
		if t.kind == tEOF {
			return p.errAt(t, "unexpected end of file")
		}
		if t.kind == tOp && (t.text == "(" || t.text == "[" || t.text == "{") {
			depth++
		}
		if t.kind == tOp && (t.text == ")" || t.text == "]" || t.text == "}") {
			if depth == 0 {
				return nil
			}
			depth--
		}
		p.next()
	}
}

func (p *parser) atom() (*expr, error) {
	t := p.peek()
	switch t.kind {
	case tName:
		p.next()
		switch t.text {
		case "True", "False", "None":
			e := p.span(eConst, t)
			e.name = t.text
			return e, nil
		}
		if isKeyword(t.text) {
			return nil, p.errAt(t, "invalid syntax near '"+t.text+"'")
		}
		e := p.span(eName, t)
		e.name = t.text
		return e, nil
	case tNumber:
		p.next()
		return p.span(eNumber, t), nil
	case tString:
		for p.peek().kind == tString {
			p.next()
		}
		return p.span(eString, t), nil
	case tOp:
		switch t.text {
		case "...":
			p.next()
			e := p.span(eConst, t)
			e.name = "..."
			return e, nil
		case "(":
			return p.bracket("(", ")", eTuple)
		case "[":
			return p.bracket("[", "]", eList)
		case "{":
			return p.braces()
		}
	}
	got := t.text
	if t.kind == tNewline {
		got = "end of line"
	}
	return nil, p.errAt(t, "invalid syntax near '"+got+"'")
}

func isKeyword(s string) bool {
	switch s {
	case "and", "as", "assert", "break", "class", "continue", "def", "del", "elif", "else", "except",
		"finally", "for", "from", "global", "if", "import", "in", "is", "nonlocal", "or", "pass",
		"raise", "return", "try", "while", "with":
		return true
	}
	return false
}

// bracket parses (...) or [...]: a parenthesised expression, a tuple, a
// list, or a comprehension (eOther).
func (p *parser) bracket(open, closing string, kind exprKind) (*expr, error) {
	first := p.next()
	var items []*expr
	trailingComma := false
	for !p.isOp(closing) {
		item, err := p.expression()
		if err != nil {
			return nil, err
		}
		if p.isName("for") || p.isName("async") {
			if err := p.skipComprehension(closing); err != nil {
				return nil, err
			}
			p.next()
			return p.span(eOther, first), nil
		}
		items = append(items, item)
		trailingComma = false
		if !p.isOp(closing) {
			if _, err := p.expectOp(","); err != nil {
				return nil, err
			}
			trailingComma = true
		}
	}
	p.next()
	if open == "(" && len(items) == 1 && !trailingComma {
		// A parenthesised expression is its own kind of node, as in
		// Cog's parser: "(1)" is not a literal default there either.
		e := p.span(eOther, first)
		e.x = items[0]
		return e, nil
	}
	e := p.span(kind, first)
	e.items = items
	return e, nil
}

func (p *parser) braces() (*expr, error) {
	first := p.next()
	var keys, values []*expr
	isDict := true
	n := 0
	for !p.isOp("}") {
		if p.isOp("**") {
			p.next()
			if _, err := p.binary(5); err != nil {
				return nil, err
			}
			keys, values = append(keys, nil), append(values, nil)
		} else {
			k, err := p.expression()
			if err != nil {
				return nil, err
			}
			if p.isName("for") || p.isName("async") {
				if err := p.skipComprehension("}"); err != nil {
					return nil, err
				}
				p.next()
				return p.span(eOther, first), nil
			}
			if p.isOp(":") {
				p.next()
				v, err := p.expression()
				if err != nil {
					return nil, err
				}
				if p.isName("for") || p.isName("async") {
					if err := p.skipComprehension("}"); err != nil {
						return nil, err
					}
					p.next()
					return p.span(eOther, first), nil
				}
				keys, values = append(keys, k), append(values, v)
			} else {
				if n == 0 {
					isDict = false
				}
				keys, values = append(keys, k), append(values, nil)
			}
		}
		n++
		if !p.isOp("}") {
			if _, err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
	}
	p.next()
	if isDict {
		e := p.span(eDict, first)
		e.items, e.values = keys, values
		return e, nil
	}
	e := p.span(eSet, first)
	e.items = keys
	return e, nil
}

// dotted returns a name or attribute chain as written ("cog.Path"), and
// false for anything else.
func dotted(e *expr) (string, bool) {
	switch e.kind {
	case eName:
		return e.name, true
	case eAttr:
		x, ok := dotted(e.x)
		if !ok {
			return "", false
		}
		return x + "." + e.name, true
	}
	return "", false
}
