// Package schema computes a Cog model's OpenAPI schema statically from its
// Python source, before anything is built, the way Cog 0.22.0's generator
// does: same titles, types, defaults, x-cog-* extensions and the same bytes.
//
// It is a pure function from source text to schema bytes or positioned
// errors (*config.Error with the .py file, line and column). Python is read
// by a small tokenizer and parser of its own (tokenize.go, parse.go) that
// understands the subset the schema needs: imports, top-level classes and
// functions with their signatures, annotations, literal defaults, Input(...)
// calls and the bodies of BaseModel and TypedDict classes. Everything else
// is skipped by its tokens, so any valid Python module parses.
package schema
