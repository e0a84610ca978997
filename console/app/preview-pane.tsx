import type { ComponentChildren } from 'preact';

/**
 * One rendered email as a recipient gets it: which audience row, its subject, its HTML in a
 * sandboxed frame (no scripts, no same-origin). The campaign's Preview tab and the editor both
 * show their preview through it; each says whose email it is in `caption`.
 */
export function PreviewPane(props: {
  row: number;
  onRow: (row: number) => void;
  preview: { subject: string; html: string } | null;
  caption?: string;
  error?: ComponentChildren;
  /** What shows while there is neither a preview nor an error. */
  empty?: ComponentChildren;
}) {
  const { preview, error } = props;
  return (
    <>
      <div class="row">
        <h3>Preview</h3>
        <label class="inline-label">
          Audience row{' '}
          <input
            type="number"
            min={1}
            class="narrow"
            value={props.row}
            onInput={(e) => props.onRow(Math.max(1, Number(e.currentTarget.value) || 1))}
          />
        </label>
      </div>
      {error && <p class="failure">{error}</p>}
      {preview ? (
        <>
          <p class="muted">
            Subject: <strong>{preview.subject}</strong>
            {props.caption ? ` · ${props.caption}` : ''}
          </p>
          <iframe class="preview" sandbox="" title="Preview of the email" srcdoc={preview.html} />
        </>
      ) : (
        !error && props.empty
      )}
    </>
  );
}
