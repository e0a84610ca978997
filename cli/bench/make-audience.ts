import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/**
 * A production-shaped audience for `baton sanitize` benchmarks: `tsx cli/bench/make-audience.ts
 * OUT.csv [ROWS]` (default 1,000,000). Every row has an address in the email column and another
 * buried in a free-text column; one row in 50 is invalid, one in 100 a duplicate.
 */
async function main(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await write('Email,First Name,Notes,Profile\n');
  for (let i = 0; i < rows; i++) {
    const n = i % 100 === 99 ? i - 1 : i;
    const email = i % 50 === 7 ? `broken-${i}` : `Person.${n}+news@Example${n % 97}.com`;
    await write(
      `${email},Name ${i},"wrote from <friend.${i}@mail.example.org>, see mailto:desk@shop.example",https://www.shop.example/u/${i}\n`,
    );
  }
  out.end();
  await once(out, 'close');
}

void main(process.argv[2] ?? 'prod.csv', Number(process.argv[3] ?? 1_000_000));
