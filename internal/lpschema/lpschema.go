// Package lpschema validates JSON against LivePerson's published schemas
// (../shared/protocol/schema), for tests. The schemas use types JSON
// Schema does not have ("Long", "any"); they are mapped first ("integer",
// no constraint). Nothing here is copied from the schemas: they are read
// from disk when present.
package lpschema

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Set is the compiled schema folder.
type Set struct {
	dir      string
	compiler *jsonschema.Compiler
	cache    map[string]*jsonschema.Schema
}

// Load reads every schema under dir. It returns (nil, nil) when dir does
// not exist, so callers can skip.
func Load(dir string) (*Set, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, nil
	}
	c := jsonschema.NewCompiler()
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return c.AddResource("file://"+filepath.ToSlash(p), normalize(doc))
	})
	if err != nil {
		return nil, err
	}
	return &Set{dir: abs, compiler: c, cache: map[string]*jsonschema.Schema{}}, nil
}

// normalize maps the non-standard types and drops draft-04 "id" members,
// which would re-base relative $refs away from the files.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k == "id" {
				if _, isString := val.(string); isString {
					continue
				}
			}
			if k == "type" {
				switch t := val.(type) {
				case string:
					switch strings.ToLower(t) {
					case "long", "int", "integer64":
						out[k] = "integer"
					case "any":
						// no constraint
					default:
						out[k] = t
					}
					continue
				}
			}
			out[k] = normalize(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// Validate checks the JSON document doc (raw bytes or a decoded value)
// against the schema file name, relative to the folder (for example
// "ms/messagingEventNotification.json").
func (s *Set) Validate(name string, doc any) error {
	sch, ok := s.cache[name]
	if !ok {
		var err error
		sch, err = s.compiler.Compile("file://" + filepath.ToSlash(filepath.Join(s.dir, name)))
		if err != nil {
			return fmt.Errorf("compiling %s: %w", name, err)
		}
		s.cache[name] = sch
	}
	if b, isBytes := doc.([]byte); isBytes {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			return err
		}
		doc = v
	} else {
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if doc, err = jsonschema.UnmarshalJSON(strings.NewReader(string(b))); err != nil {
			return err
		}
	}
	return sch.Validate(doc)
}
