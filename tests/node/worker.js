// Reads jobs off a BullMQ queue with a Node Worker, as the services' consumers do.
//   node worker.js <redisUrl> <prefix> <queue> <count> <timeoutSeconds>
// Completes each job and, once `count` jobs were seen (or the time is up), prints them as a
// JSON array of {id, name, data, priority, attempts} and exits.
'use strict';
const { Worker } = require('bullmq');
const IORedis = require('ioredis');

async function main() {
  const [redisUrl, prefix, queueName, count, timeoutSeconds] = process.argv.slice(2);
  const connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });
  const seen = [];
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  const worker = new Worker(
    queueName,
    async (job) => {
      seen.push({
        id: job.id,
        name: job.name,
        data: job.data,
        priority: job.opts.priority || 0,
        attempts: job.opts.attempts || 0,
      });
      if (seen.length >= Number(count)) finish();
      return { ok: true };
    },
    { connection, prefix, concurrency: 20 },
  );
  const timer = setTimeout(finish, Number(timeoutSeconds) * 1000);
  await done;
  clearTimeout(timer);
  await worker.close();
  await connection.quit();
  process.stdout.write(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
