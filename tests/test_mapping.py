"""Field mappings: what a template gives, the filters, the errors a user sees, and the sandbox."""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from jinja2 import Environment, StrictUndefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from etl.adapters import Item
from etl.cli import main
from etl.errors import MappingError, SpecError
from etl.mapping import Mapper, UniqueValues, make_environment
from etl.slugs import unique_handle

CATALOGUE = Path(__file__).parent / "data" / "dummyjson" / "products.json"

RECORD = {
    "id": 1,
    "title": "Essence Mascara Lash Princess",
    "category": "home-decoration",
    "price": 9.99,
    "stock": 99,
    "sku": "0478",
    "tags": ["beauty", "mascara"],
    "dimensions": {"width": 15.14, "height": 13.08, "depth": 22.99},
    "meta": {"barcode": "0085585730728"},
    "images": ["https://cdn.example/1.webp", "https://cdn.example/2.webp"],
    "thumbnail": None,
}


def field(template, record=RECORD):
    """What one field template gives for `record`."""
    return Mapper("{{ record.id }}", {"f": template}).map(record).data["f"]


def failure(template, record=RECORD) -> MappingError:
    with pytest.raises(MappingError) as caught:
        field(template, record)
    return caught.value


def problems(fields, key="{{ record.id }}", locate=None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        Mapper(key, fields, file="p.yaml", locate=locate)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("template,expected", [
    ("{{ record.price }}", 9.99),
    ("{{ record.meta.barcode }}", "0085585730728"),
    ("{{ record.sku }}", "0478"),
    ("{{ record.tags }}", ["beauty", "mascara"]),
    ("{{ record.dimensions }}", {"width": 15.14, "height": 13.08, "depth": 22.99}),
    ("{{ record.brand | default(none) }}", None),
    ("{{ record.thumbnail }}", None),
    ("{{ record.id }}", 1),
    ("{{ record.id | string }}", "1"),
    ("{{ record.stock > 0 }}", True),
    ("{{ record.price * 2 }}", 19.98),
    ("{{ record.dimensions.width }}", 15.14),
    ("{{ record['title'] }}", "Essence Mascara Lash Princess"),
    ("{{ record.images[0] }}", "https://cdn.example/1.webp"),
    ("{{ record.images.1 }}", "https://cdn.example/2.webp"),
    ("{{ record.images[-1] }}", "https://cdn.example/2.webp"),
    ("{{ [record.id, record.sku] }}", [1, "0478"]),
    ("{{ {'w': record.dimensions.width, 'n': record.id} }}", {"w": 15.14, "n": 1}),
    ("{{ record.tags | map('upper') }}", ["BEAUTY", "MASCARA"]),
    ("{{ range(3) }}", [0, 1, 2]),
    ("  {{ record.price }}\n", 9.99),
    ("{{- record.sku -}}", "0478"),
    ("{{ record.sku }}{# a note #}", "0478"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_single_expression_keeps_its_type(template, expected):
    value = field(template)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("template,expected", [
    ("Price: {{ record.price }}", "Price: 9.99"),
    ("{{ record.id }}{{ record.sku }}", "10478"),
    ("{{ record.stock }} left", "99 left"),
    ("{{ record.tags | join(', ') }}", "beauty, mascara"),
    ("{% if record.stock > 0 %}in stock{% else %}sold out{% endif %}", "in stock"),
    ("{% for tag in record.tags %}#{{ tag }}{% if not loop.last %} {% endif %}{% endfor %}",
     "#beauty #mascara"),
    ("{% filter upper %}{{ record.sku }}x{% endfilter %}", "0478X"),
    ("{{ record.sku }}!\n", "0478!\n"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_anything_else_is_text(template, expected):
    assert field(template) == expected


@pytest.mark.parametrize("constant", [
    "published", "0478", "100%", "{ not a template }", "a }} b", "", 42, 9.99, True, None,
])
def test_constants_are_returned_as_written(constant):
    value = field(constant)
    assert value == constant and type(value) is type(constant)


def test_lists_and_objects_map_item_by_item():
    fields = {
        "title": "{{ record.title }}",
        "status": "published",
        "categories": [{"handle": "{{ record.category | slug }}",
                        "name": "{{ record.category | titleize }}"}],
        "variants": [{"sku": "{{ record.sku }}",
                      "prices": [{"currency_code": "usd", "amount": "{{ record.price }}"}],
                      "options": {"Default option": "Default option value"}}],
        "metadata": {"barcode": "{{ record.meta.barcode }}", "tags": "{{ record.tags }}", "rank": 3},
    }
    item = Mapper("{{ record.id }}", fields).map(RECORD)
    assert item == Item("1", {
        "title": "Essence Mascara Lash Princess",
        "status": "published",
        "categories": [{"handle": "home-decoration", "name": "Home Decoration"}],
        "variants": [{"sku": "0478", "prices": [{"currency_code": "usd", "amount": 9.99}],
                      "options": {"Default option": "Default option value"}}],
        "metadata": {"barcode": "0085585730728", "tags": ["beauty", "mascara"], "rank": 3},
    }, RECORD)


def test_mapped_values_share_nothing_with_the_record():
    record = copy.deepcopy(RECORD)
    data = Mapper("{{ record.id }}", {"tags": "{{ record.tags }}", "size": "{{ record.dimensions }}",
                                      "urls": "{{ record.images | objects('url') }}"}).map(record).data
    data["tags"].append("x")
    data["size"]["width"] = 0
    assert record == RECORD


def test_a_key_wins_over_a_method_of_the_same_name():
    record = {"id": 1, "items": ["a", "b"], "values": {"x": 1}}
    assert field("{{ record.items }}", record) == ["a", "b"]
    assert field("{% for i in record.items %}{{ i }}{% endfor %}", record) == "ab"
    assert field("{{ record.values.x }}", record) == 1


@pytest.mark.parametrize("key,expected", [
    ("{{ record.id }}", "1"),
    ("{{ record.sku }}", "0478"),
    ("{{ record.category }}-{{ record.id }}", "home-decoration-1"),
])
def test_the_key_is_text(key, expected):
    assert Mapper(key, {}).key_of(RECORD) == expected
    assert Mapper(key, {}).map(RECORD).key == expected


@pytest.mark.parametrize("key,record,message", [
    ("{{ record.code }}", RECORD, "a record whose key is unknown: field 'key': 'dict object' has no attribute 'code' "
                                  "(template: {{ record.code }})"),
    ("{{ record.thumbnail }}", RECORD, "a record whose key is unknown: field 'key': "
                                       "the key must be text or a number, got null "
                                       "(template: {{ record.thumbnail }})"),
    ("{{ record.tags }}", RECORD, "a record whose key is unknown: field 'key': "
                                  "the key must be text or a number, got a list "
                                  "(template: {{ record.tags }})"),
    ("{{ record.code }}", {"code": ""},
     "a record whose key is unknown: field 'key': the key is empty (template: {{ record.code }})"),
    ("{{ record.id }}", ["not", "an", "object"], "a record whose key is unknown: "
                                                 "field 'record': a record must be an object, "
                                                 "got a list (template: )"),
])
def test_a_record_without_a_key_fails(key, record, message):
    with pytest.raises(MappingError) as caught:
        Mapper(key, {"title": "{{ record.title }}"}).map(record)
    assert str(caught.value) == message and caught.value.key is None


@pytest.mark.parametrize("template,expected", [
    ("{{ record.title | slug }}", "essence-mascara-lash-princess"),
    ("{{ 'Crème Brûlée & Co.' | slug }}", "creme-brulee-co"),
    ("{{ record.id | slug }}", "1"),
    ("{{ record.category | titleize }}", "Home Decoration"),
    ("{{ 'mens-shirts' | titleize }}", "Mens Shirts"),
    ("{{ record.images | objects('url') }}", [{"url": "https://cdn.example/1.webp"},
                                               {"url": "https://cdn.example/2.webp"}]),
    ("{{ record.tags | map('upper') | objects('value') }}", [{"value": "BEAUTY"}, {"value": "MASCARA"}]),
    ("{{ {'a': 1, 'b': none, 'c': false} | compact }}", {"a": 1, "c": False}),
    ("{{ [1, none, 0] | compact }}", [1, 0]),
    ("{{ record.dimensions | omit('depth', 'height') }}", {"width": 15.14}),
    ("{{ record.dimensions | pick('width', 'height', 'weight') }}", {"width": 15.14, "height": 13.08}),
    ("{{ record.dimensions | pick(['depth']) }}", {"depth": 22.99}),
    ("{{ record.sku | to_int }}", 478),
    ("{{ ' 12 ' | to_int }}", 12),
    ("{{ '12.0' | to_int }}", 12),
    ("{{ 12.0 | to_int }}", 12),
    ("{{ '123456789012345678901' | to_int }}", 123456789012345678901),
    ("{{ '9.99' | to_float }}", 9.99),
    ("{{ 3 | to_float }}", 3.0),
    ("{{ record.brand | default('no brand') }}", "no brand"),
    ("{{ record.title | default('untitled') }}", "Essence Mascara Lash Princess"),
    ("{{ record.tags | length }}", 2),
    ("{{ record.tags | first | upper }}", "BEAUTY"),
    ("{{ record.tags | tojson }}", '["beauty", "mascara"]'),
    ("{{ record.title | replace(' ', '_') | lower }}", "essence_mascara_lash_princess"),
    ("{{ '%.1f%%' | format(12.345) }}", "12.3%"),
    ("{{ '{:>6}'.format(record.sku) }}", "  0478"),
    ("{{ [[1], [2, 3]] | sum(start=[]) }}", [1, 2, 3]),
    ("{{ [1, 2, 3] | sum }}", 6),
    ("{{ record.tags | batch(1) | list }}", [["beauty"], ["mascara"]]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_filters(template, expected):
    value = field(template)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("template,message", [
    ("{{ '!!!' | slug }}", "the slug of '!!!' is empty: it has no letter or digit"),
    ("{{ record.thumbnail | slug }}", "slug needs text, got null"),
    ("{{ record.tags | slug }}", "slug needs text, got a list"),
    ("{{ record.brand | slug }}", "'dict object' has no attribute 'brand'"),
    ("{{ record.thumbnail | titleize }}", "titleize needs text, got null"),
    ("{{ record.sku | objects('url') }}", "objects needs a list, got text"),
    ("{{ record.thumbnail | objects('url') }}", "objects needs a list, got null"),
    ("{{ record.tags | omit('x') }}", "omit needs an object, got a list"),
    ("{{ record.sku | pick('x') }}", "pick needs an object, got text"),
    ("{{ record.price | compact }}", "compact needs an object or a list, got a number"),
    ("{{ 'abc' | to_int }}", "cannot convert 'abc' to an integer"),
    ("{{ '12.5' | to_int }}", "cannot convert '12.5' to an integer"),
    ("{{ true | to_int }}", "cannot convert true/false to an integer"),
    ("{{ record.thumbnail | to_int }}", "cannot convert null to an integer"),
    ("{{ 'nan' | to_float }}", "cannot convert 'nan' to a number"),
    ("{{ '1e999' | to_float }}", "cannot convert '1e999' to a number"),
    ("{{ record.tags | to_float }}", "cannot convert a list to a number"),
    ("{{ record.brand | to_float }}", "'dict object' has no attribute 'brand'"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_filter_errors_say_what_was_wrong(template, message):
    assert failure(template).message == f"record '1': field 'f': {message} (template: {template})"


LINES = {"mapping.key": (3, 8), "mapping.fields.title": (5, 12), "mapping.fields.variants.0.sku": (9, 16)}


def locate(path):
    return LINES.get(path, (None, None))


@pytest.mark.parametrize("fields,expected", [
    ({"title": "{{ record.title }"},
     ["p.yaml:5:12: mapping.fields.title: template syntax error: unexpected '}' (in '{{ record.title }')"]),
    ({"title": "{% if record.title %}x"},
     ["p.yaml:5:12: mapping.fields.title: template syntax error: Unexpected end of template. Jinja was "
      "looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be "
      "closed is 'if'. (in '{% if record.title %}x')"]),
    ({"title": "{{ record.title\n  +* 2 }}"},
     ["p.yaml:5:12: mapping.fields.title: template syntax error: unexpected '*' "
      "(in line 2 of '{{ record.title\\n  +* 2 }}')"]),
    ({"variants": [{"sku": "{{ record.sku | slgu }}"}]},
     ["p.yaml:9:16: mapping.fields.variants.0.sku: unknown filter 'slgu' (did you mean 'slug'?) "
      "(in '{{ record.sku | slgu }}')"]),
    ({"title": "{{ recrod.title }}"},
     ["p.yaml:5:12: mapping.fields.title: unknown name 'recrod' (did you mean 'record'?) "
      "(in '{{ recrod.title }}')"]),
    ({"title": "{{ product.title }}"},
     ["p.yaml:5:12: mapping.fields.title: unknown name 'product' (templates see record) "
      "(in '{{ product.title }}')"]),
    ({"title": "{{ record.stock is nmber }}"},
     ["p.yaml:5:12: mapping.fields.title: unknown test 'nmber' (did you mean 'number'?) "
      "(in '{{ record.stock is nmber }}')"]),
    ({"title": "{{ record.tags | random }}"},
     ["p.yaml:5:12: mapping.fields.title: unknown filter 'random' (in '{{ record.tags | random }}')"]),
    ({"title": "{% set t = record.title %}{{ t }}"},
     ["p.yaml:5:12: mapping.fields.title: the {% set %} tag is not available in a mapping "
      "(in '{% set t = record.title %}{{ t }}')"]),
    ({"title": "{% include 'other.html' %}"},
     ["p.yaml:5:12: mapping.fields.title: the {% include %} tag is not available in a mapping "
      "(in \"{% include 'other.html' %}\")"]),
    ({"title": "{% macro m() %}{% endmacro %}"},
     ["p.yaml:5:12: mapping.fields.title: the {% macro %} tag is not available in a mapping "
      "(in '{% macro m() %}{% endmacro %}')"]),
    ({"title": "{% for t in record.tags recursive %}{{ loop(t) }}{% endfor %}"},
     ["p.yaml:5:12: mapping.fields.title: recursive loops are not available in a mapping "
      "(in '{% for t in record.tags recursive %}{{ loop(t) }}{% endfor %}')"]),
], ids=["syntax", "unclosed block", "line in a template", "filter in a list", "name typo", "unknown name",
        "test typo", "random is gone", "set", "include", "macro", "recursive loop"])
def test_template_problems_are_found_when_the_spec_is_loaded(fields, expected):
    assert problems(fields, locate=locate) == expected


def test_every_bad_template_is_reported_not_just_the_first():
    fields = {"title": "{{ record.title }", "handle": "{{ record.title | slgu }}", "ok": "{{ record.id }}",
              "variants": [{"sku": "{{ sku }}"}]}
    found = problems(fields, key="{{ record.id", locate=locate)
    assert [line.split(": ")[1] for line in found] == [
        "mapping.key", "mapping.fields.title", "mapping.fields.handle", "mapping.fields.variants.0.sku"]
    assert found[0].startswith("p.yaml:3:8: ") and found[3].startswith("p.yaml:9:16: ")


def test_without_locate_problems_have_no_line():
    assert problems({"title": "{{ x }}"}) == [
        "p.yaml: mapping.fields.title: unknown name 'x' (templates see record) (in '{{ x }}')"]


@pytest.mark.parametrize("template,message", [
    ("{{ record.brand }}", "'dict object' has no attribute 'brand'"),
    ("Brand: {{ record.brand }}", "'dict object' has no attribute 'brand'"),
    ("{{ record.dimensions.weight }}", "'dict object' has no attribute 'weight'"),
    ("{{ record.brand.name }}", "'dict object' has no attribute 'brand'"),
    ("{{ record.tags[5] }}", "list object has no element 5"),
    ("{{ record.price + 'x' }}", "TypeError: unsupported operand type(s) for +: 'float' and 'str'"),
    ("{{ record.price / 0 }}", "ZeroDivisionError: float division by zero"),
    ("{{ record.items }}", "the template gives the method 'items', not data"),
    ("{{ record.title.upper }}", "the template gives the method 'upper', not data"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_render_errors_name_the_record_the_field_and_the_template(template, message):
    error = failure(template)
    assert str(error) == f"record '1': field 'f': {message} (template: {template})"
    assert (error.key, error.field, error.template) == ("1", "f", template)


def test_the_field_is_named_by_its_path():
    fields = {"variants": [{"title": "x"}, {"prices": [{"amount": "{{ record.cost }}"}]}]}
    mapper = Mapper("{{ record.id }}", fields)
    with pytest.raises(MappingError) as caught:
        mapper.map(RECORD)
    assert caught.value.field == "variants.1.prices.0.amount"


def test_a_failed_record_does_not_stop_the_next():
    mapper = Mapper("{{ record.id }}", {"brand": "{{ record.brand }}"})
    with pytest.raises(MappingError):
        mapper.map(RECORD)
    assert mapper.map({**RECORD, "brand": "Essence"}).data == {"brand": "Essence"}


@pytest.mark.parametrize("expression", [
    "record.brand", "record['brand']", "record.dimensions.weight", "record.tags[5]", "record.tags.9",
    "record.meta.barcode.x", "record.sku[0].x", "record.brand | string", "record.brand | upper",
])
def test_a_missing_value_reads_as_in_jinja(expression):
    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    template = "{{ " + expression + " }}"
    with pytest.raises(UndefinedError) as jinja:
        plain.from_string(template).render(record=RECORD)
    assert failure(template).message == f"record '1': field 'f': {jinja.value.message} (template: {template})"


LOOKUPS = ["record.title", "record.dimensions.width", "record['meta']['barcode']", "record.images[0]",
           "record.images[-1]", "record.tags", "record.dimensions", "record.brand | default(none)",
           "record.title | slug", "record.category | slug | titleize", "record.id | string",
           "record.images | objects('url')", "record.reviews[0].rating", "record.price * 100",
           "record.title ~ ' (' ~ record.brand | default('') ~ ')'"]


def catalogue():
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def test_the_catalogue_maps_as_plain_jinja_evaluates_it():
    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    plain.filters.update(Mapper("{{ 1 }}", {}).env.filters)
    expressions = [plain.compile_expression(e, undefined_to_none=False) for e in LOOKUPS]
    mapper = Mapper("{{ record.id }}", {str(i): "{{ " + e + " }}" for i, e in enumerate(LOOKUPS)})
    products = catalogue()
    for product in products:
        data = mapper.map(product).data
        assert [data[str(i)] for i in range(len(LOOKUPS))] == [e(record=product) for e in expressions]
    assert len(products) == 194


def test_title_slugs_collide_where_the_catalogue_says_and_unique_handles_resolve_them():
    mapper = Mapper("{{ record.id }}", {"handle": "{{ record.title | slug }}"})
    items = [mapper.map(product) for product in catalogue()]
    ids_by_handle = defaultdict(list)
    for item in items:
        ids_by_handle[item.data["handle"]].append(int(item.key))
    assert {h: ids for h, ids in ids_by_handle.items() if len(ids) > 1} == {
        "rolex-cellini-moonphase": [96, 191], "sports-sneakers-off-white-red": [91, 92]}
    assert not [h for h in ids_by_handle if "--" in h or h != h.strip("-")]

    taken: set[str] = set()
    for item in items:
        item.data["handle"] = unique_handle(item.data["handle"], taken)
        taken.add(item.data["handle"])
    handles = {int(item.key): item.data["handle"] for item in items}
    assert len(taken) == 194
    assert [handles[i] for i in (96, 191, 91, 92)] == [
        "rolex-cellini-moonphase", "rolex-cellini-moonphase-1",
        "sports-sneakers-off-white-red", "sports-sneakers-off-white-red-1"]


def test_unique_values_suffix_repeated_values_across_a_run():
    unique = UniqueValues(["handle"])
    items = [Item(str(i), {"handle": h}) for i, h in enumerate(["x", "x", "y", "x", None])]
    for item in items:
        unique.apply(item)
    assert [item.data["handle"] for item in items] == ["x", "x-1", "y", "x-2", None]


TOO_BIG = "a template may not build a value over 1,000,000 characters or items"
RECORD_TOO_BIG = "the templates of one record may not build over 10,000,000 characters or items"
TOO_WIDE = "format widths over 10,000 are not allowed in templates"
HOSTILE = [
    ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
    ("{{ record.__class__ }}", "access to attribute '__class__' of 'dict' object is unsafe"),
    ("{{ record['__class__'] }}", "access to attribute '__class__' of 'dict' object is unsafe"),
    ("{{ record.title.ljust(10**9) }}", "access to attribute 'ljust' of 'str' object is unsafe"),
    ("{{ record.tags.append(1) }}", "access to attribute 'append' of 'list' object is unsafe"),
    ("{{ record.pop('id') }}", "access to attribute 'pop' of 'dict' object is unsafe"),
    ("{{ dict.fromkeys(range(99999), 'x') }}", "access to attribute 'fromkeys' of 'type' object is unsafe"),
    ("{{ range(10**9) | list }}", "range() of 1,000,000,000 numbers is over the limit of 100,000"),
    ("{{ 'a' * 10**9 }}", TOO_BIG),
    ("{{ [record.title] * 10**6 }}", TOO_BIG),
    ("{{ 10 ** (10 ** 6) }}", "a template may not build a number over 10,000 bits"),
    ("{{ (10 ** 2000) * (10 ** 2000) }}", "a template may not build a number over 10,000 bits"),
    ("{{ '%999999999s' % 1 }}", TOO_WIDE),
    ("{{ '%.*f' | format(10**9, 1.0) }}", TOO_WIDE),
    ("{{ '{:999999999}'.format(1) }}", TOO_WIDE),
    ("{{ '{0:{1}}'.format(1, 10**9) }}", "nested format fields are not allowed in templates"),
    ("{{ '{0.__class__}'.format(record) }}", "access to attribute '__class__' of 'dict' object is unsafe"),
    ("{{ range(99999) | join('x' * 99999) }}", TOO_BIG),
    ("{{ 'x' | center(10**9) }}", TOO_BIG),
    ("{{ ('a\\n' * 99999) | indent(999) }}", TOO_BIG),
    ("{{ ('x' * 999999) | replace('x', 'yy') }}", TOO_BIG),
    ("{{ ('x' * 999999) | wordwrap(1, wrapstring='y' * 99) }}", TOO_BIG),
    ("{{ [1] | batch(10**9, 0) | list }}", TOO_BIG),
    ("{{ [1] | slice(10**8) | list }}", TOO_BIG),
    ("{{ range(99999) | map('center', 999) | list }}", RECORD_TOO_BIG),
    ("{{ ([0] * 99999) | map('default', 'x' * 999, true) | list | length }}", RECORD_TOO_BIG),
    ("{{ range(99999) | map(attribute='x', default='y' * 999) | list | length }}", RECORD_TOO_BIG),
    ("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
     "the loops of one record may not run over 100,000 turns"),
    ("{% for a in range(99999) %}{{ record.title }}{% endfor %}",
     "a template may not build text over 1,000,000 characters"),
]


@pytest.mark.parametrize("template,message", HOSTILE, ids=[t for t, _ in HOSTILE])
def test_hostile_templates_fail_the_record_with_a_clear_error_and_change_nothing(template, message):
    record = copy.deepcopy(RECORD)
    error = failure(template, record)
    assert error.message == f"record '1': field 'f': unsafe template: {message} (template: {template})"
    assert record == RECORD


@pytest.mark.parametrize("template,message", [
    ("{{ cycler.__init__.__globals__ }}", "unknown name 'cycler' (templates see record)"),
    ("{{ joiner.__init__.__globals__ }}", "unknown name 'joiner' (templates see record)"),
    ("{{ lipsum.__globals__ }}", "unknown name 'lipsum' (templates see record)"),
    ("{{ namespace(x=1) }}", "unknown name 'namespace' (templates see record)"),
    ("{{ self._TemplateReference__context }}", "unknown name 'self' (templates see record)"),
    ("{% set x = 10**5 %}{% set x = x ~ x %}{{ x }}", "the {% set %} tag is not available in a mapping"),
    ("{% with x = record %}{{ x }}{% endwith %}", "the {% with %} tag is not available in a mapping"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_hostile_templates_that_can_be_seen_are_refused_when_the_spec_is_loaded(template, message):
    assert problems({"f": template}) == [f"p.yaml: mapping.fields.f: {message} (in {template!r})"]


def test_the_record_budget_is_per_record():
    mapper = Mapper("{{ record.id }}", {"text": "{{ 'x' * 999999 }}", "more": "{{ 'x' * 999999 }}"})
    for _ in range(20):
        assert len(mapper.map(RECORD).data["text"]) == 999999


PLANTED = "planted-s3cr3t-value"
ESCAPES = [
    ("{{ cycler.__init__.__globals__.__builtins__.open(PATH, 'w').write('x') }}",
     "load", "unknown name 'cycler' (templates see record)"),
    ("{{ joiner.__init__.__globals__.os.environ.PLANTED_SECRET }}",
     "load", "unknown name 'joiner' (templates see record)"),
    ("{{ lipsum.__globals__.os.environ.PLANTED_SECRET }}",
     "load", "unknown name 'lipsum' (templates see record)"),
    ("{{ namespace.__init__.__globals__.os.environ.PLANTED_SECRET }}",
     "load", "unknown name 'namespace' (templates see record)"),
    ("{{ self._TemplateReference__context.cycler.__init__.__globals__.os.environ.PLANTED_SECRET }}",
     "load", "unknown name 'self' (templates see record)"),
    ("{{ range.__globals__.__builtins__.open(PATH, 'w').write('x') }}",
     "record", "unsafe template: access to attribute '__globals__' of 'function' object is unsafe"),
    ("{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == '_wrap_close' %}"
     "{{ c.__init__.__globals__.__builtins__.open(PATH, 'w').write('x') }}{% endif %}{% endfor %}",
     "record", "unsafe template: access to attribute '__class__' of 'str' object is unsafe"),
    ("{% for c in record.__class__.__base__.__subclasses__() %}{% if c.__name__ == '_wrap_close' %}"
     "{{ c.__init__.__globals__.environ.PLANTED_SECRET }}{% endif %}{% endfor %}",
     "record", "unsafe template: access to attribute '__class__' of 'dict' object is unsafe"),
]


@pytest.mark.parametrize("template,when,message", ESCAPES, ids=[t[:60] for t, _, _ in ESCAPES])
def test_a_template_that_escapes_plain_jinja_writes_and_reads_nothing_here(tmp_path, monkeypatch, template, when,
                                                                           message):
    monkeypatch.setenv("PLANTED_SECRET", PLANTED)
    target = tmp_path / "written-by-a-template"
    source = template.replace("PATH", repr(str(target)))
    plain = Environment()
    plain.globals["range"] = make_environment().globals["range"]
    escaped = plain.from_string(source).render(record=copy.deepcopy(RECORD))
    assert target.exists() or PLANTED in escaped, "the payload must work outside the sandbox"
    target.unlink(missing_ok=True)

    if when == "load":
        assert problems({"f": source}) == [f"p.yaml: mapping.fields.f: {message} (in {source!r})"]
    else:
        error = failure(source)
        assert error.message == f"record '1': field 'f': {message} (template: {source})"
        assert PLANTED not in str(error)
    assert not target.exists()


DEEP = [
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"),
    ("{{ " + "[" * 5000 + "]" * 5000 + " }}"),
    ("{{ " + "+".join(["1"] * 20000) + " }}"),
    ("{{ " + "not " * 5000 + "1 }}"),
    ("{{ record.title" + " | upper" * 5000 + " }}"),
    ("{{ record" + ".title" * 5000 + " }}"),
    ("{% if 1 %}" * 2000 + "x" + "{% endif %}" * 2000),
]


@pytest.mark.parametrize("template", DEEP, ids=[t[:16] for t in DEEP])
def test_a_template_nested_too_deeply_is_a_spec_problem_not_a_crash(template):
    shown = repr(template[:57]) + "..."
    assert problems({"f": template}) == [
        f"p.yaml: mapping.fields.f: the template is nested too deeply to compile (in {shown})"]


HOSTILE_PIPELINE = """\
version: 1
name: hostile
source: {type: fake}
mapping:
  key: "{{ record.id }}"
  fields:
    title: "{{ record.title }}"
    evil: "TEMPLATE"
sink: {type: fake}
"""


@pytest.mark.parametrize("template,message", [
    ("{{ record.title.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
    ("{{ record.title * 10**9 }}", TOO_BIG),
    ("{{ range(10**9) | list }}", "range() of 1,000,000,000 numbers is over the limit of 100,000"),
], ids=["escape", "string bomb", "range bomb"])
def test_a_hostile_template_in_a_pipeline_fails_each_record_and_the_run_goes_on(fakes, write_spec, tmp_path,
                                                                                 template, message):
    source, _ = fakes
    source.records = [{"id": i, "title": f"Product {i}"} for i in (1, 2, 3)]
    spec = write_spec(HOSTILE_PIPELINE.replace("TEMPLATE", template))
    out, quarantine, report = tmp_path / "out.jsonl", tmp_path / "q.jsonl", tmp_path / "r.json"
    result = CliRunner().invoke(main, ["run", str(spec), "--to", str(out), "--quarantine", str(quarantine),
                                       "--report", str(report)])
    errors = {str(i): f"record '{i}': field 'evil': unsafe template: {message} (template: {template})"
              for i in (1, 2, 3)}
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert out.read_text() == ""
    assert [(e["key"], e["stage"], e["error"], e["record"]["title"]) for e in map(json.loads, quarantine.open())] \
        == [(key, "mapping", error, f"Product {key}") for key, error in errors.items()]
    assert json.loads(report.read_text())["failures"] == [
        {"key": key, "stage": "mapping", "message": error} for key, error in errors.items()]
    assert [line for line in result.stdout.splitlines() if line.startswith("  - ")] == [
        f"  - {key}: {error}" for key, error in errors.items()]
