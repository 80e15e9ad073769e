/**
 * The orphan sweep of src/store/blob_objects.ts, the rules that keep "never a row without its
 * object": an object goes only when no row names it and its last put is older than the grace
 * period, read again just before the delete (a writer who put it meanwhile keeps it), one page
 * at a time with a cursor. Over an object store held in memory with clocks the test sets (the
 * same sweep runs on R2 in workerd: test/worker_r2_test.ts).
 */
import { assertEquals } from "./fixtures/assert.ts";
import { type BlobObjects, OBJECT_GRACE_MS, sweepObjects } from "../src/store/blob_objects.ts";

function memoryObjects(): BlobObjects & { uploaded: Map<string, number> } {
  const uploaded = new Map<string, number>();
  return {
    uploaded,
    put: (key) => Promise.resolve(void uploaded.set(key, Date.now())),
    read: () => Promise.resolve(undefined),
    bytes: () => Promise.resolve(undefined),
    uploadedAt: (key) => Promise.resolve(uploaded.get(key)),
    list(prefix, limit, cursor) {
      const keys = [...uploaded.keys()].filter((k) => k.startsWith(prefix)).sort()
        .filter((k) => cursor === undefined || k > cursor);
      const page = keys.slice(0, limit);
      return Promise.resolve({
        objects: page.map((key) => ({ key, uploaded: uploaded.get(key)! })),
        cursor: keys.length > limit ? page[page.length - 1] : undefined,
      });
    },
    delete: (key) => Promise.resolve(void uploaded.delete(key)),
  };
}

Deno.test("issue17#1: the object sweep removes only old objects no row names", async () => {
  const now = Date.now();
  const old = now - OBJECT_GRACE_MS - 1;
  const objects = memoryObjects();
  for (const [sha, at] of [["a", old], ["b", old], ["c", now - 1000], ["d", old], ["e", old]]) {
    objects.uploaded.set(`blobs/${sha}`, at as number);
  }
  const rows = new Set(["a"]);
  // "d" is put again by a writer between the listing and the delete: it stays.
  const rowExists = (shas: string[]) => {
    objects.uploaded.set("blobs/d", now);
    return Promise.resolve(new Set(shas.filter((s) => rows.has(s))));
  };
  const first = await sweepObjects(objects, rowExists, { now, limit: 4 });
  assertEquals([first.checked, first.deleted, first.cursor], [4, 1, "blobs/d"]);
  const second = await sweepObjects(objects, rowExists, { now, limit: 4, cursor: first.cursor });
  assertEquals([second.checked, second.deleted, second.cursor], [1, 1, undefined]);
  assertEquals([...objects.uploaded.keys()].sort(), ["blobs/a", "blobs/c", "blobs/d"]);
});
