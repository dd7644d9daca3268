// Adds jobs to a BullMQ queue the way the NestJS services do (`Queue.add(type, envelope, opts)`).
//   node producer.js <redisUrl> <prefix> <queue> <jobs.json>
// jobs.json: [{"name", "data", "opts"?, "rawData"?}]. `rawData` replaces the stored data with a
// string that is not JSON after the add: what a broken producer leaves in Redis. Prints the
// added job ids as a JSON array.
'use strict';
const fs = require('node:fs');
const { Queue } = require('bullmq');
const IORedis = require('ioredis');

async function main() {
  const [redisUrl, prefix, queueName, jobsFile] = process.argv.slice(2);
  const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
  const connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection, prefix });
  const ids = [];
  const CHUNK = 1000;
  for (let start = 0; start < jobs.length; start += CHUNK) {
    const chunk = jobs.slice(start, start + CHUNK);
    const added = await queue.addBulk(
      chunk.map((job) => ({ name: job.name, data: job.data, opts: job.opts || {} })),
    );
    for (let i = 0; i < added.length; i += 1) {
      ids.push(added[i].id);
      if (chunk[i].rawData !== undefined) {
        await connection.hset(`${prefix}:${queueName}:${added[i].id}`, 'data', chunk[i].rawData);
      }
    }
  }
  await queue.close();
  await connection.quit();
  process.stdout.write(JSON.stringify(ids));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
