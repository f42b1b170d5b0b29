// The API's errors as the page says them. The API words each 422 problem itself
// (services/api/error_words.py: `words`, what is wrong, and `text`, the sentence, rows
// from 1); this adds the answers that carry no words of their own. The HTTP code stays
// in the API's answer and the browser console, not on screen.

// "Name is required", but "Line 4: not a valid phone number (...)" when the words are
// not a predicate of their own.
export function joined(subject, words) {
  return /^(is|are|must|needs|need) /.test(words) ? `${subject} ${words}` : `${subject}: ${words}`;
}

// An API problem's words without its field; pydantic's own as the fallback of an older API.
export const problemWords = (problem) => problem.words ?? problem.msg ?? "is not valid";
export const sentence = (problem) => problem.text ?? problem.msg ?? "The request is not valid";

const capital = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : text);

// One line for the notice at the top of the page.
export function plainMessage(status, body, problems) {
  const text = body?.message || (typeof body?.detail === "string" ? body.detail : "");
  if (status === 0) return "The server cannot be reached. Check your connection and try again.";
  if (status === 401) return "Your token was not accepted. Sign in again with a valid API token.";
  if (status === 403) return capital(text) || "Your role does not allow this.";
  if (status === 413) return "That is too much to send at once: split the file and try again.";
  if (status === 422 && problems.length) {
    const more = problems.length - 1;
    return more ? `${sentence(problems[0])}, and ${more} more to correct.` : `${sentence(problems[0])}.`;
  }
  if (status === 429) return "Too many requests just now: wait a moment and try again.";
  if (status >= 500) return capital(text) || "The service is not answering properly; try again in a moment.";
  return capital(text) || "That did not work.";
}
