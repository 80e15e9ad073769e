/**
 * The webmail page (`/mail`): server-rendered structure only — folder list, message list,
 * reader, composer and settings dialogs — filled by mail.js from the /v1 JSON API with the
 * session of src/web/shell/session.ts. Everything a message carries is inserted as text by the
 * script; its HTML body is shown only inside the sandboxed frame of frame.ts.
 */
import { assetUrl } from "../asset_routes.ts";
import { Layout } from "../shell/layout.tsx";

function AccountMenu() {
  return (
    <>
      <form id="search" role="search" class="search">
        <label for="q" class="visually-hidden">Search mail</label>
        <input
          id="q"
          name="q"
          type="search"
          placeholder="Search mail"
          aria-keyshortcuts="/"
          autocomplete="off"
        />
      </form>
      <span class="spacer"></span>
      <a id="admin-link" class="button" href="/admin" hidden>Admin console</a>
      <button type="button" id="open-settings" aria-haspopup="dialog">Settings</button>
      <span id="me" class="me"></span>
      <button type="button" data-action="sign-out">Sign out</button>
    </>
  );
}

function Composer() {
  return (
    <dialog id="composer" aria-labelledby="composer-title">
      <form id="compose-form" method="dialog">
        <header class="dialog-head">
          <h2 id="composer-title">New message</h2>
          <span id="draft-state" class="muted" role="status" aria-live="polite"></span>
          <button type="button" id="compose-close" aria-label="Close (the draft is kept)">×</button>
        </header>
        <label for="c-from">From</label>
        <select id="c-from" name="from"></select>
        <label for="c-to">To</label>
        <input id="c-to" name="to" type="text" autocomplete="email" multiple />
        <label for="c-cc">Cc</label>
        <input id="c-cc" name="cc" type="text" autocomplete="email" />
        <label for="c-subject">Subject</label>
        <input id="c-subject" name="subject" type="text" />
        <label for="c-body">Message</label>
        <textarea id="c-body" name="body" rows={12}></textarea>
        <label for="c-files">Attachments</label>
        <input id="c-files" name="files" type="file" multiple />
        <ul id="c-attachments" class="chips"></ul>
        <p id="compose-error" class="error" role="alert" hidden></p>
        <footer class="dialog-foot">
          <button type="submit" id="c-send" class="primary">Send</button>
          <button type="button" id="c-discard" class="danger">Discard draft</button>
        </footer>
      </form>
    </dialog>
  );
}

function Settings() {
  return (
    <dialog
      id="settings"
      aria-labelledby="settings-title"
      data-rules-script={assetUrl("mail_settings.js")}
    >
      <header class="dialog-head">
        <h2 id="settings-title">Settings</h2>
        <button type="button" id="settings-close" aria-label="Close settings">×</button>
      </header>
      <section aria-labelledby="s-identities">
        <h3 id="s-identities">Identities</h3>
        <p class="muted">
          Addresses you can send from (your account and aliases that deliver to it).
        </p>
        <ul id="identities"></ul>
      </section>
      <section aria-labelledby="s-2fa">
        <h3 id="s-2fa">Two-factor sign-in</h3>
        {/* mail.js imports the QR code script only when the set-up is opened. */}
        <div id="twofa" data-qr-script={assetUrl("qr_code.js")}></div>
      </section>
      <section aria-labelledby="s-apppw">
        <h3 id="s-apppw">App passwords</h3>
        <p class="muted">For IMAP, POP3 and SMTP clients. Each is shown once.</p>
        <ul id="app-passwords"></ul>
        <form id="app-password-form" class="inline">
          <label for="ap-name">Name</label>
          <input id="ap-name" name="name" required maxlength={100} />
          <button type="submit">Create app password</button>
        </form>
        <p id="ap-new" role="status" hidden></p>
      </section>
      {/* Issue 21: mail_settings.js (imported when the dialog opens) fills these from the API. */}
      <section aria-labelledby="s-vacation">
        <h3 id="s-vacation">Vacation reply</h3>
        <div id="vacation"></div>
      </section>
      <section aria-labelledby="s-filters">
        <h3 id="s-filters">Filters</h3>
        <p class="muted">Run in order on every message delivered to you.</p>
        <div id="filters"></div>
      </section>
      <section aria-labelledby="s-forwarding">
        <h3 id="s-forwarding">Forwarding</h3>
        <div id="forwarding"></div>
      </section>
      <section aria-labelledby="s-spam">
        <h3 id="s-spam">Spam filter</h3>
        <div id="spam"></div>
      </section>
      <section aria-labelledby="s-retention">
        <h3 id="s-retention">Folder clean-up</h3>
        <p class="muted">Delete messages from a folder this many days after they arrive.</p>
        <div id="retention"></div>
      </section>
      <section aria-labelledby="s-deleted">
        <h3 id="s-deleted">Deleted messages</h3>
        <p class="muted">Deleted mail can be restored for a while before it is gone for good.</p>
        <div id="deleted"></div>
      </section>
      <section aria-labelledby="s-sessions">
        <h3 id="s-sessions">Sessions</h3>
        <button type="button" data-action="sign-out-everywhere" class="danger">
          Sign out everywhere
        </button>
      </section>
    </dialog>
  );
}

export function MailPage(props: { csrf: string }) {
  return (
    <Layout
      title="Mail · Postern"
      page="mail"
      csrf={props.csrf}
      scripts={["mail.js"]}
      styles={["mail.css"]}
      header={<AccountMenu />}
    >
      <div class="mail" id="mail" data-view="list">
        <nav id="folders" aria-label="Folders">
          <button
            type="button"
            id="compose"
            class="primary"
            aria-keyshortcuts="c"
            title="Compose (c)"
          >
            Compose
          </button>
          <ul id="folder-list"></ul>
        </nav>
        <main id="main" tabindex={-1}>
          <section id="list-pane" aria-labelledby="list-title">
            <div class="pane-head">
              <button type="button" id="show-folders" class="phone-only" aria-label="Folders">
                ☰
              </button>
              <h1 id="list-title">Inbox</h1>
              <label class="threads-toggle">
                <input type="checkbox" id="threaded" checked /> Threads
              </label>
            </div>
            <ul
              id="messages"
              role="listbox"
              aria-labelledby="list-title"
              tabindex={0}
              aria-describedby="list-keys"
            >
            </ul>
            <p id="list-keys" class="visually-hidden">
              j and k move through the messages, Enter opens one.
            </p>
            <button type="button" id="more" hidden>Load more</button>
            <p id="list-empty" class="muted" hidden>No messages.</p>
          </section>
          <section id="reader" aria-label="Reading pane" data-empty="true">
            <div class="pane-head actions" role="toolbar" aria-label="Message actions">
              <button type="button" id="back" class="phone-only">← Back</button>
              <button type="button" id="a-reply" aria-keyshortcuts="r" title="Reply (r)">
                Reply
              </button>
              <button type="button" id="a-reply-all" aria-keyshortcuts="a" title="Reply all (a)">
                Reply all
              </button>
              <button type="button" id="a-forward" aria-keyshortcuts="f" title="Forward (f)">
                Forward
              </button>
              <button type="button" id="a-archive" aria-keyshortcuts="e" title="Archive (e)">
                Archive
              </button>
              <button type="button" id="a-delete" aria-keyshortcuts="#" title="Delete (#)">
                Delete
              </button>
              <button type="button" id="a-junk" aria-keyshortcuts="!" title="Junk (!)">
                Junk
              </button>
              <button type="button" id="a-flag" aria-keyshortcuts="s" title="Flag (s)">Flag</button>
              <button type="button" id="a-unread">Mark unread</button>
              <label for="a-move" class="visually-hidden">Move to folder</label>
              <select id="a-move"></select>
            </div>
            <article id="message"></article>
          </section>
        </main>
      </div>
      <Composer />
      <Settings />
    </Layout>
  );
}
