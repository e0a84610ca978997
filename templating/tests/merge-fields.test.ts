import { Liquid } from 'liquidjs';
import { mergeFieldsUsed, unknownMergeFields } from '../src/merge-fields';

const parse = (source: string) => new Liquid().parse(source);

describe('merge fields', () => {
  it('finds the fields read from outside the template, in placeholders, tags and filter arguments, with their lines', () => {
    const source = [
      'Hi {{ first_name | default: nickname }}',
      '{% if vip %}{{ customer.tier }}{% endif %}',
      '{% assign greeting = "Hello" %}{{ greeting }}',
      '{% for item in items %}{{ item.name }} {{ forloop.index }}{% endfor %}',
      '{{ first_name }}',
    ].join('\n');
    expect(mergeFieldsUsed(parse(source))).toEqual([
      { name: 'first_name', lines: [1, 5] },
      { name: 'nickname', lines: [1] },
      { name: 'vip', lines: [2] },
      { name: 'customer', lines: [2] },
      { name: 'items', lines: [4] },
    ]);
  });

  it('calls unknown what is neither a column nor built in, and suggests the column meant', () => {
    const uses = mergeFieldsUsed(parse('{{ frist_name }} {{ First_Name }} {{ email }} {{ unsubscribe_url }} {{ city }} {{ zzz }}'));
    expect(unknownMergeFields(uses, ['email', 'first_name', 'city'])).toEqual([
      { name: 'frist_name', lines: [1], suggestion: 'first_name' },
      { name: 'First_Name', lines: [1], suggestion: 'first_name' },
      { name: 'zzz', lines: [1] },
    ]);
  });

  it('suggests nothing far from every column', () => {
    expect(unknownMergeFields([{ name: 'postcode', lines: [1] }], ['email', 'first_name'])).toEqual([{ name: 'postcode', lines: [1] }]);
  });

  it('stays fast with many columns and long names (no suggestion search past its bound)', () => {
    const columns = Array.from({ length: 20_000 }, (_, i) => `column_${i}`);
    const uses = Array.from({ length: 50 }, (_, i) => ({ name: `field_${i}_${'x'.repeat(100)}`, lines: [i + 1] }));
    const started = performance.now();
    expect(unknownMergeFields(uses, columns)).toHaveLength(50);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
