// Contacts from a CSV file, with the rules of the API's import (services/api/csv_import.py):
// a header row naming `phone`, an optional `name`, every other column a contact variable.

// Records of RFC 4180 CSV, each with the line it starts on; quoted fields may span lines.
export function parseCsv(text) {
  const records = [];
  let record = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else {
        if (char === "\n") line += 1;
        cell += char;
      }
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      record.push(cell);
      cell = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i += 1;
      record.push(cell);
      records.push({ line: start, cells: record });
      record = [];
      cell = "";
      line += 1;
      start = line;
    } else cell += char;
  }
  if (cell || record.length) {
    record.push(cell);
    records.push({ line: start, cells: record });
  }
  return records.filter(({ cells }) => cells.some((c) => c.trim()));
}

class CsvProblem extends Error {
  field = "contacts";
}

// {contacts: [{phone, name, vars}], lines: [the file line of each contact]}
export async function readContacts(file) {
  const text = (await file.text()).replace(/^\uFEFF/, "");
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new CsvProblem("the file is empty: a header row is needed");
  const names = header.cells.map((c) => c.trim());
  const lowered = names.map((c) => c.toLowerCase());
  const phone = lowered.indexOf("phone");
  if (phone < 0) throw new CsvProblem("the header row needs a 'phone' column");
  const name = lowered.indexOf("name");
  const cell = (cells, index) => (index >= 0 && index < cells.length ? cells[index].trim() : "");
  const contacts = rows.map(({ cells }) => {
    const vars = {};
    names.forEach((column, index) => {
      if (index !== phone && index !== name && column && cell(cells, index))
        vars[column] = cell(cells, index);
    });
    const contactName = cell(cells, name);
    return { phone: cell(cells, phone), ...(contactName ? { name: contactName } : {}), vars };
  });
  return { contacts, lines: rows.map((row) => row.line) };
}
