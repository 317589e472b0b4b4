// Key scheme of the listing buckets: 100 top-level directories x 100 subdirectories, files spread over them, so
// a delimiter listing under one top-level directory rolls up (up to) 100 subdirectories over n/100 keys.
const pad = (n, w) => String(n).padStart(w, '0');

export function listingKey(i) {
  const d = i % 100;
  const rest = Math.floor(i / 100);
  return `d${pad(d, 2)}/s${pad(rest % 100, 2)}/f${pad(Math.floor(rest / 100), 6)}`;
}
