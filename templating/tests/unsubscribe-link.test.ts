import { compileCampaignTemplate } from '../src/template';
import { hasVisibleUnsubscribeLink } from '../src/unsubscribe-link';
import { mjmlBody } from './fixtures';

const LINK = '<a href="{{ unsubscribe_url }}">Unsubscribe</a>';

describe('the visible unsubscribe link rule', () => {
  it.each([
    ['a plain link', `<p>${LINK}</p>`],
    ['filters after the variable', '<a href="{{ unsubscribe_url | append: \'&amp;l=de\' }}">Abmelden</a>'],
    ['whitespace control', '<a href="{{- unsubscribe_url -}}">Unsubscribe</a>'],
    ['its text a merge field', '<a href="{{ unsubscribe_url }}">{{ unsubscribe_label }}</a>'],
    ['an image for its text', '<a href="{{ unsubscribe_url }}"><img src="https://x.example/u.png"></a>'],
    ['a zero font size undone inside', `<td style="font-size:0px"><div style="font-size:13px">${LINK}</div></td>`],
    ['visibility restored inside', `<div style="visibility:hidden"><p style="visibility: visible">${LINK}</p></div>`],
    ['upper-case markup', '<A HREF="{{ unsubscribe_url }}">Unsubscribe</A>'],
  ])('sees one with %s', (_what, html) => {
    expect(hasVisibleUnsubscribeLink(html)).toBe(true);
  });

  it.each([
    ['no link at all', '<p>Hello</p>'],
    ['the variable only in text', '<p>Unsubscribe: {{ unsubscribe_url }}</p>'],
    ['a link that only mentions it', '<a href="https://x.example/?u={{ unsubscribe_url }}">Unsubscribe</a>'],
    ['an empty link', '<a href="{{ unsubscribe_url }}">  </a>'],
    ['an image without a source', '<a href="{{ unsubscribe_url }}"><img alt="x"></a>'],
    ['display:none around it', `<div style="display: none">${LINK}</div>`],
    ['the hidden attribute', `<div hidden>${LINK}</div>`],
    ['opacity 0', `<span style="opacity:0">${LINK}</span>`],
    ['the preheader trick', `<div style="max-height:0px;overflow:hidden">${LINK}</div>`],
    ['a zero font size', `<div style="font-size:0">${LINK}</div>`],
    ['visibility hidden', `<div style="visibility:hidden !important">${LINK}</div>`],
    ['another variable', '<a href="{{ unsubscribe }}">Unsubscribe</a>'],
  ])('sees none with %s', (_what, html) => {
    expect(hasVisibleUnsubscribeLink(html)).toBe(false);
  });

  it("holds on MJML's own output: a link in mj-text counts, one in mj-preview does not", async () => {
    const shown = await compileCampaignTemplate({ from: 'a@example.com', subject: 'Hi', mjml: mjmlBody(`<mj-text>${LINK}</mj-text>`) });
    expect(hasVisibleUnsubscribeLink(shown.source.html)).toBe(true);
    const button = await compileCampaignTemplate({
      from: 'a@example.com',
      subject: 'Hi',
      mjml: mjmlBody('<mj-button href="{{ unsubscribe_url }}">Unsubscribe</mj-button>'),
    });
    expect(hasVisibleUnsubscribeLink(button.source.html)).toBe(true);
    const preheader = await compileCampaignTemplate({
      from: 'a@example.com',
      subject: 'Hi',
      mjml: `<mjml><mj-head><mj-preview>${LINK}</mj-preview></mj-head><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`,
    });
    expect(hasVisibleUnsubscribeLink(preheader.source.html)).toBe(false);
  });

  it('reads 2 MB of deeply styled HTML in well under a second', () => {
    const html = `${'<div style="font-size:0px"><span style="color:red">text</span></div>'.repeat(30_000)}<p>${LINK}</p>`;
    const started = performance.now();
    expect(hasVisibleUnsubscribeLink(html)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
