// The bench's yardstick (bench/reference.py): the plainest Node queue there is, one
// BullMQ job per message, each job one POST to the Twilio sandbox. It shares nothing
// with our pipeline but the machine, Redis and the sandbox, so its pace on a given day
// says how fast the machine is that day.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 TWILIO_API_BASE_URL=http://127.0.0.1:8090 \
//   TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... \
//   node queue.mjs --queue ref-1 --recipients numbers.txt --from whatsapp:+14155238886 \
//     --concurrency 50
//
// The recipients file holds one address a line (the caller owns which numbers the
// sandbox accepts). Standard output gets two JSON lines: {"event": "started"} just
// before the first job is added, then the result once the last job has finished;
// whoever measures CPU from outside reads it between the two.

import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { Queue, Worker } from "bullmq";

const { values: args } = parseArgs({
  options: {
    queue: { type: "string" },
    prefix: { type: "string", default: "bull" },
    recipients: { type: "string" },
    from: { type: "string" },
    concurrency: { type: "string", default: "50" },
    "chunk-size": { type: "string", default: "1000" },
    "timeout-s": { type: "string", default: "600" },
  },
});

function required(value, name) {
  if (!value) {
    console.error(`queue.mjs: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const queueName = required(args.queue, "--queue");
const from = required(args.from, "--from");
const concurrency = Number(args.concurrency);
const chunkSize = Number(args["chunk-size"]);
const timeoutMs = Number(args["timeout-s"]) * 1000;
const redisUrl = new URL(required(process.env.REDIS_URL, "REDIS_URL"));
const baseUrl = required(process.env.TWILIO_API_BASE_URL, "TWILIO_API_BASE_URL");
const accountSid = required(process.env.TWILIO_ACCOUNT_SID, "TWILIO_ACCOUNT_SID");
const authToken = required(process.env.TWILIO_AUTH_TOKEN, "TWILIO_AUTH_TOKEN");

const recipients = (await readFile(required(args.recipients, "--recipients"), "utf8"))
  .split("\n")
  .filter((line) => line.trim());
if (recipients.length === 0) {
  console.error("queue.mjs: the recipients file is empty");
  process.exit(2);
}

// BullMQ 5 hands these to ioredis, which takes no URL inside an options object.
const connection = {
  host: redisUrl.hostname,
  port: Number(redisUrl.port || 6379),
  db: Number(redisUrl.pathname.slice(1) || 0),
  username: decodeURIComponent(redisUrl.username) || undefined,
  password: decodeURIComponent(redisUrl.password) || undefined,
  // A worker's blocking fetch must not give up on a slow Redis (BullMQ refuses otherwise).
  maxRetriesPerRequest: null,
};

const messagesUrl = `${baseUrl.replace(/\/$/, "")}/2010-04-01/Accounts/${accountSid}/Messages.json`;
const authorization = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;

// One job, one request: no batching, no rate limiter, nothing of ours. fetch's
// default agent keeps connections alive, so each in-flight job reuses a socket.
async function send(job) {
  const response = await fetch(messagesUrl, {
    method: "POST",
    headers: {
      Authorization: authorization,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ To: job.data.to, From: job.data.from, Body: job.data.body }),
  });
  // Read to the end: an unread body keeps its socket from going back to the pool.
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`the sandbox answered ${response.status}: ${text.slice(0, 200)}`);
  }
}

const queue = new Queue(queueName, {
  connection,
  prefix: args.prefix,
  // Finished jobs are deleted at once, so 20,000 of them leave Redis as it was.
  defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
});
const worker = new Worker(queueName, send, { connection, prefix: args.prefix, concurrency });
worker.on("error", (error) => console.error(`worker: ${error.message}`));

let completed = 0;
let failed = 0;
let lastError = null;
let finishedAt = null;
const allFinished = new Promise((resolve) => {
  const count = () => {
    if (completed + failed === recipients.length) {
      finishedAt = performance.now();
      resolve();
    }
  };
  worker.on("completed", () => {
    completed += 1;
    count();
  });
  worker.on("failed", (_job, error) => {
    failed += 1;
    lastError = error.message;
    count();
  });
});

await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
process.stdout.write(`${JSON.stringify({ event: "started" })}\n`);
const startedAt = performance.now();
let timer;
const timedOut = new Promise((resolve) => {
  timer = setTimeout(() => resolve(true), timeoutMs);
});
for (let first = 0; first < recipients.length; first += chunkSize) {
  const chunk = recipients.slice(first, first + chunkSize);
  await queue.addBulk(
    chunk.map((to, offset) => ({
      name: "send",
      data: { to, from, body: `Hola n${first + offset}` },
    })),
  );
}

const late = await Promise.race([allFinished.then(() => false), timedOut]);
clearTimeout(timer);
const seconds = ((finishedAt ?? performance.now()) - startedAt) / 1000;
const result = {
  event: "finished",
  messages: recipients.length,
  completed,
  failed,
  concurrency,
  seconds: Number(seconds.toFixed(3)),
  messages_per_s: Number((completed / seconds).toFixed(1)),
  timed_out: late,
  last_error: lastError,
};
process.stdout.write(`${JSON.stringify(result)}\n`);

await worker.close(late);
// A timed-out run leaves waiting jobs behind: its keys go too, whatever state they are in.
await queue.obliterate({ force: true });
await queue.close();
process.exitCode = late ? 1 : 0;
