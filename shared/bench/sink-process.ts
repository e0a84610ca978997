/** The Mailgun-compatible sink in a process of its own (for bench/mailgun-sender.ts): sends its URL to the parent, drops what it stores. */
import { startMailgunSink } from '../../local/src/mailgun-sink';

void startMailgunSink({ apiKey: process.argv[2]! }).then((sink) => {
  setInterval(() => sink.clear(), 1_000).unref();
  process.send!(sink.url);
});
