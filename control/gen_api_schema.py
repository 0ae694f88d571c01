#!/usr/bin/env python3
"""Generate the schema of the served kinds (api_schema_data.c) for k8c-server.

Usage: gen_api_schema.py MODELS_DIR OUTPUT.c

MODELS_DIR is Debian's python3-kubernetes models directory
(/usr/lib/python3/dist-packages/kubernetes/client/models): the client generated from the
Kubernetes 1.22 OpenAPI document. Each model module holds a class with `openapi_types`
(attribute -> Python type), `attribute_map` (attribute -> JSON name), one property per field
whose docstring carries the field's description, and a setter that raises on None for required
fields. The modules are parsed (ast), never imported.

The hand-written supplement api_schema_extra.py (next to this script) adds what those models
lack: the served kinds, OpenAPI package names, strategic-merge-patch tags, fields and types added
after 1.22, int-or-string / quantity / bytes fields, and the types left open.
"""
import ast
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_schema_extra as extra  # noqa: E402

SCALARS = {
    'str': 'STRING',
    'int': 'INTEGER',
    'float': 'NUMBER',
    'bool': 'BOOLEAN',
    'datetime': 'TIME',
    'object': 'ANY',
    'any': 'ANY',
    'int-or-string': 'INT_OR_STRING',
    'quantity': 'QUANTITY',
    'bytes': 'BYTES',
    'time': 'TIME',
}


def clean_doc(doc):
    """The description paragraph of a generated property docstring."""
    if not doc:
        return ''
    parts = [p.strip() for p in doc.split('\n\n')]
    for p in parts[1:]:
        if p.startswith(':return:') or p.startswith(':param') or p.startswith(':type'):
            break
        p = re.sub(r'\s*# noqa: E501', '', p)
        p = ' '.join(p.split())
        if p:
            return p
    return ''


class Model:
    def __init__(self, name, types, jsons, docs, required):
        self.name = name
        self.types = types  # attribute -> python type
        self.jsons = jsons  # attribute -> JSON name
        self.docs = docs  # attribute -> description
        self.required = required  # set of attributes


def load_models(models_dir):
    """Index of class name -> module path (parsed lazily)."""
    index = {}
    for fn in sorted(os.listdir(models_dir)):
        if not fn.endswith('.py') or fn == '__init__.py':
            continue
        path = os.path.join(models_dir, fn)
        with open(path, encoding='utf-8') as f:
            m = re.search(r'^class (\w+)\(object\):', f.read(), re.M)
        if m:
            index[m.group(1)] = path
    return index


def parse_model(name, path):
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    types, jsons, docs, required = {}, {}, {}, set()
    for node in cls.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            tgt = getattr(node.targets[0], 'id', None)
            if tgt == 'openapi_types':
                types = ast.literal_eval(node.value)
            elif tgt == 'attribute_map':
                jsons = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef) and node.name in types:
            decos = [getattr(d, 'id', None) or getattr(d, 'attr', None)
                     for d in node.decorator_list]
            if 'property' in decos:
                docs[node.name] = clean_doc(ast.get_docstring(node, clean=True))
            elif 'setter' in decos:
                src = ast.unparse(node)
                if re.search(r'client_side_validation and %s is None' % node.name, src):
                    required.add(node.name)
    return Model(name, types, jsons, docs, required)


def parse_type(t):
    """A python-model type -> (kind, elem kind, class name or None)."""
    t = t.strip()
    m = re.fullmatch(r'list\[(.+)\]', t)
    if m:
        k, _, c = parse_type(m.group(1))
        return 'ARRAY', k, c
    m = re.fullmatch(r'dict\(str,\s*(.+)\)', t)
    if m:
        k, _, c = parse_type(m.group(1))
        return 'MAP', k, c
    if t in SCALARS:
        return SCALARS[t], None, None
    return 'OBJECT', None, t


def c_str(s):
    if s is None:
        return 'NULL'
    out = s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
    out = ''.join(ch if 32 <= ord(ch) < 127 else '\\u%04x' % ord(ch) for ch in out)
    return '"' + out + '"'


def build(models_dir):
    index = load_models(models_dir)
    parsed = {}
    types = {}  # class -> dict(name, description, fields: list, open)
    order = []
    pkg_of = {}

    def model(cname):
        if cname not in parsed:
            if cname in extra.NEW_TYPES:
                pkg, desc, fields = extra.NEW_TYPES[cname]
                parsed[cname] = ('new', pkg, desc, fields)
            elif cname in index:
                parsed[cname] = ('py', parse_model(cname, index[cname]))
            else:
                raise SystemExit('gen_api_schema: no model for %s' % cname)
        return parsed[cname]

    def visit(cname, pkg):
        if cname in types:
            return
        m = model(cname)
        fields = []
        if m[0] == 'py':
            pm = m[1]
            for attr, pytype in pm.types.items():
                jname = pm.jsons[attr]
                fields.append({'name': jname, 'pytype': pytype, 'doc': pm.docs.get(attr, ''),
                               'required': attr in pm.required})
            description = extra.TYPE_DESCRIPTIONS.get(cname, '')
        else:
            pkg = m[1]
            description = m[2]
            for f in m[3]:
                fields.append({'name': f[0], 'pytype': f[1], 'doc': f[2],
                               'required': len(f) > 3 and f[3]})
        for f in extra.ADD_FIELDS.get(cname, []):
            if any(x['name'] == f[0] for x in fields):
                raise SystemExit('gen_api_schema: %s.%s exists already' % (cname, f[0]))
            fields.append({'name': f[0], 'pytype': f[1], 'doc': f[2],
                           'required': len(f) > 3 and f[3]})
        kind_name = extra.short_name(cname)
        for f in fields:
            if not f['doc']:
                f['doc'] = extra.FIELD_FALLBACK.get(f['name'], '').replace('KIND', kind_name)
            over = extra.TYPE_OVERRIDES.get((cname, f['name']))
            if over:
                f['pytype'] = over
        pkg = extra.PACKAGES.get(cname, pkg)
        pkg_of[cname] = pkg
        t = {'cname': cname, 'description': description or '', 'fields': fields,
             'open': cname in extra.OPEN}
        types[cname] = t
        order.append(cname)
        for f in fields:
            kind, elem, sub = parse_type(f['pytype'])
            f['kind'], f['elem'], f['sub'] = kind, elem, sub
            patch = extra.PATCH.get((cname, f['name']))
            f['strategy'], f['merge_key'] = patch if patch else ('', None)
            if sub:
                visit(sub, pkg)
        # the patch table must name real fields
        for (pc, pf) in extra.PATCH:
            if pc == cname and not any(x['name'] == pf for x in fields):
                raise SystemExit('gen_api_schema: patch tag of unknown field %s.%s' % (pc, pf))

    for group, version, kind, cname in extra.KINDS:
        pkg = extra.GROUP_PACKAGES[(group, version)]
        visit(cname, pkg)
    for (pc, pf) in list(extra.PATCH) + list(extra.TYPE_OVERRIDES):
        if pc not in types:
            raise SystemExit('gen_api_schema: supplement names unserved type %s' % pc)
    for t in types.values():
        t['name'] = pkg_of[t['cname']] + '.' + extra.NAMES.get(t['cname'], extra.short_name(t['cname']))
    names = [t['name'] for t in types.values()]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit('gen_api_schema: duplicate OpenAPI names %s' % sorted(dup))
    return types, order


def strategy_bits(s):
    bits = []
    for part in filter(None, s.split(',')):
        bits.append({'merge': 'API_SCHEMA_MERGE', 'replace': 'API_SCHEMA_REPLACE',
                     'retainKeys': 'API_SCHEMA_RETAIN_KEYS'}[part])
    return ' | '.join(bits) if bits else '0'


def emit(types, order, out):
    idx = {c: i for i, c in enumerate(order)}
    w = out.write
    w('/* Generated by control/gen_api_schema.py from python3-kubernetes models and\n'
      ' * control/api_schema_extra.py. Do not edit. */\n')
    w('#include "api_schema_data.h"\n\n')
    w('const struct api_schema_type api_schema_types[%d];\n\n' % len(order))
    for c in order:
        t = types[c]
        if not t['fields']:
            continue
        w('static const struct api_schema_field fields_%d[] = {\n' % idx[c])
        for f in sorted(t['fields'], key=lambda f: f['name']):
            w('\t{.name = %s, .kind = API_SCHEMA_%s' % (c_str(f['name']), f['kind']))
            if f['sub']:
                w(', .type = &api_schema_types[%d]' % idx[f['sub']])
            if f['elem']:
                w(', .elem = API_SCHEMA_%s' % f['elem'])
            if f['merge_key']:
                w(', .merge_key = %s' % c_str(f['merge_key']))
            if f['strategy']:
                w(', .strategy = %s' % strategy_bits(f['strategy']))
            if f['required']:
                w(', .required = true')
            w(',\n\t .description = %s},\n' % c_str(f['doc']))
        w('};\n\n')
    w('const struct api_schema_type api_schema_types[%d] = {\n' % len(order))
    for c in order:
        t = types[c]
        w('\t{.name = %s, .description = %s, ' % (c_str(t['name']), c_str(t['description'])))
        if t['fields']:
            w('.fields = fields_%d, .nfields = %d, ' % (idx[c], len(t['fields'])))
        w('.open = %s},\n' % ('true' if t['open'] else 'false'))
    w('};\n\nconst size_t api_schema_ntypes = %d;\n\n' % len(order))
    w('const struct api_schema_kind_entry api_schema_kinds[] = {\n')
    for group, version, kind, cname in extra.KINDS:
        w('\t{%s, %s, %s, &api_schema_types[%d]},\n' % (c_str(group), c_str(version),
                                                      c_str(kind), idx[cname]))
    w('};\n\nconst size_t api_schema_nkinds = %d;\n' % len(extra.KINDS))


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    types, order = build(sys.argv[1])
    tmp = sys.argv[2] + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as out:
        emit(types, order, out)
    os.replace(tmp, sys.argv[2])


if __name__ == '__main__':
    main()
