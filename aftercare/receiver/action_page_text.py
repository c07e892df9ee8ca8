"""Every word of the action pages (``action_page.py``), per language, in one place.

Keyed by message name; ``{store}``, ``{value}``, ``{choice}`` and ``{days}`` are filled in
by the page (escaped first). English is complete and the fallback for any missing message.
When the pages move to gettext catalogues (issue 18: Babel ``.po`` files), the English
strings here are the msgids and the other languages the first translations.
"""

from __future__ import annotations

from collections.abc import Mapping

FALLBACK = "en"

TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "rated": "Thanks — you rated your order {value}.",
        "rating.good": "good",
        "rating.okay": "okay",
        "rating.bad": "bad",
        "rating.button.good": "Good",
        "rating.button.okay": "Okay",
        "rating.button.bad": "Bad",
        "change": "Change your answer?",
        "comment.label": "Anything you'd like to tell {store}? (optional)",
        "comment.button": "Send my comment",
        "comment.thanks": "Thanks for your comment: {store} will read it.",
        "faq.yes": "Thanks — we're glad this answer helped.",
        "faq.no": "Thanks for telling us — we'll make this answer better.",
        "faq.no.more": "Still have a question? Reply to the email and {store} will help.",
        "faq.button.yes": "It helped",
        "faq.button.no": "It didn't help",
        "wait.done": "Thanks — we'll keep your order coming.",
        "wait.body": "{store} knows you're happy to wait, and will tell you if anything changes.",
        "choice.refund": "cancel your order and refund you",
        "choice.reship": "send your order again by a faster service",
        "ask.refund": "Cancel your order and get a refund?",
        "ask.reship": "Have your order sent again by a faster service?",
        "ask.body": "Nothing has changed yet: press the button and {store} will {choice}.",
        "button.refund": "Cancel my order and refund me",
        "button.reship": "Send it again by a faster service",
        "done.refund": "Done — you asked for a refund.",
        "done.reship": "Done — you asked for faster delivery.",
        "choice.ship_ready": "send what is ready now and the rest when it arrives",
        "ask.ship_ready": "Get what is ready now, and the rest when it arrives?",
        "button.ship_ready": "Send what is ready now",
        "done.ship_ready": "Done — what is ready will be sent now.",
        "done.body": "{store} has your request and will {choice}. You'll hear back by email.",
        "chosen.title": "You've already asked {store} to {choice}.",
        "chosen.body": "To keep waiting for your order instead, press the button.",
        "button.wait": "Keep waiting for my order",
        "bad.title": "This link doesn't work",
        "bad.body": (
            "This link is not complete or not valid, so nothing was recorded. It may have "
            "been cut short when it was copied: open it again from the email, or reply to "
            "any email from {store}."
        ),
        "expired.title": "This link has expired",
        "expired.body": (
            "Links in our emails work for {days} days, so nothing was recorded. Reply to any "
            "email from {store} and we'll help."
        ),
        "unknown.body": (
            "We can't find the email this link came from, so nothing was recorded. Reply to "
            "any email from {store} and we'll help."
        ),
        "not_a_choice": "That answer isn't one of the choices, so nothing was recorded.",
        "unavailable.title": "Please try again in a minute",
        "unavailable.body": (
            "We could not save your answer just now, so nothing has changed yet. Please "
            "open the link from the email again in a minute."
        ),
    },
    "de": {
        "rated": "Danke — Sie haben Ihre Bestellung mit {value} bewertet.",
        "rating.good": "gut",
        "rating.okay": "okay",
        "rating.bad": "schlecht",
        "rating.button.good": "Gut",
        "rating.button.okay": "Okay",
        "rating.button.bad": "Schlecht",
        "change": "Antwort ändern?",
        "comment.label": "Möchten Sie {store} noch etwas sagen? (freiwillig)",
        "comment.button": "Kommentar senden",
        "comment.thanks": "Danke für Ihren Kommentar: {store} liest ihn.",
        "faq.yes": "Danke — schön, dass diese Antwort geholfen hat.",
        "faq.no": "Danke für den Hinweis — wir verbessern diese Antwort.",
        "faq.no.more": "Noch eine Frage? Antworten Sie auf die E-Mail, {store} hilft Ihnen.",
        "faq.button.yes": "Hat geholfen",
        "faq.button.no": "Hat nicht geholfen",
        "wait.done": "Danke — Ihre Bestellung kommt weiter zu Ihnen.",
        "wait.body": (
            "{store} weiß, dass Sie gern warten, und meldet sich, falls sich etwas ändert."
        ),
        "choice.refund": "Ihre Bestellung stornieren und Ihnen den Betrag erstatten",
        "choice.reship": "Ihre Bestellung noch einmal mit einem schnelleren Versand schicken",
        "ask.refund": "Bestellung stornieren und Geld zurück?",
        "ask.reship": "Bestellung noch einmal schneller verschicken lassen?",
        "ask.body": (
            "Noch hat sich nichts geändert: Drücken Sie den Knopf, und {store} wird {choice}."
        ),
        "button.refund": "Bestellung stornieren und erstatten",
        "button.reship": "Schneller noch einmal schicken",
        "done.refund": "Erledigt — Sie haben eine Erstattung angefordert.",
        "done.reship": "Erledigt — Sie haben einen schnelleren Versand angefordert.",
        "choice.ship_ready": "das Fertige jetzt schicken und den Rest, sobald er da ist",
        "ask.ship_ready": "Das Fertige jetzt bekommen und den Rest später?",
        "button.ship_ready": "Das Fertige jetzt schicken",
        "done.ship_ready": "Erledigt — das Fertige wird jetzt verschickt.",
        "done.body": (
            "{store} hat Ihre Anfrage und wird {choice}. Sie erhalten eine Antwort per E-Mail."
        ),
        "chosen.title": "Sie haben {store} schon gebeten, {choice}.",
        "chosen.body": "Wenn Sie stattdessen weiter warten möchten, drücken Sie den Knopf.",
        "button.wait": "Weiter auf meine Bestellung warten",
        "bad.title": "Dieser Link funktioniert nicht",
        "bad.body": (
            "Dieser Link ist unvollständig oder ungültig, daher wurde nichts gespeichert. "
            "Vielleicht wurde er beim Kopieren abgeschnitten: Öffnen Sie ihn noch einmal aus "
            "der E-Mail, oder antworten Sie auf eine E-Mail von {store}."
        ),
        "expired.title": "Dieser Link ist abgelaufen",
        "expired.body": (
            "Links in unseren E-Mails gelten {days} Tage, daher wurde nichts gespeichert. "
            "Antworten Sie auf eine E-Mail von {store}, wir helfen Ihnen gern."
        ),
        "unknown.body": (
            "Wir finden die E-Mail zu diesem Link nicht, daher wurde nichts gespeichert. "
            "Antworten Sie auf eine E-Mail von {store}, wir helfen Ihnen gern."
        ),
        "not_a_choice": "Diese Antwort steht nicht zur Wahl, daher wurde nichts gespeichert.",
        "unavailable.title": "Bitte versuchen Sie es gleich noch einmal",
        "unavailable.body": (
            "Wir konnten Ihre Antwort gerade nicht speichern, es hat sich also noch nichts "
            "geändert. Bitte öffnen Sie den Link aus der E-Mail in einer Minute noch einmal."
        ),
    },
    "fr": {
        "rated": "Merci — vous avez jugé votre commande {value}.",
        "rating.good": "bien",
        "rating.okay": "correcte",
        "rating.bad": "mauvaise",
        "rating.button.good": "Bien",
        "rating.button.okay": "Correcte",
        "rating.button.bad": "Mauvaise",
        "change": "Changer votre réponse ?",
        "comment.label": "Voulez-vous dire quelque chose à {store} ? (facultatif)",
        "comment.button": "Envoyer mon commentaire",
        "comment.thanks": "Merci pour votre commentaire : {store} le lira.",
        "faq.yes": "Merci — nous sommes ravis que cette réponse vous ait aidé.",
        "faq.no": "Merci de nous l'avoir dit — nous allons améliorer cette réponse.",
        "faq.no.more": "Une autre question ? Répondez à l'e-mail et {store} vous aidera.",
        "faq.button.yes": "Cela m'a aidé",
        "faq.button.no": "Cela ne m'a pas aidé",
        "wait.done": "Merci — votre commande continue son chemin.",
        "wait.body": (
            "{store} sait que vous acceptez d'attendre et vous préviendra si quelque chose change."
        ),
        "choice.refund": "annuler votre commande et vous rembourser",
        "choice.reship": "renvoyer votre commande par un service plus rapide",
        "ask.refund": "Annuler votre commande et être remboursé ?",
        "ask.reship": "Recevoir votre commande par un envoi plus rapide ?",
        "ask.body": ("Rien n'a encore changé : appuyez sur le bouton et {store} va {choice}."),
        "button.refund": "Annuler ma commande et me rembourser",
        "button.reship": "La renvoyer par un service plus rapide",
        "done.refund": "C'est noté — vous avez demandé un remboursement.",
        "done.reship": "C'est noté — vous avez demandé un envoi plus rapide.",
        "choice.ship_ready": "envoyer maintenant ce qui est prêt et le reste à son arrivée",
        "ask.ship_ready": "Recevoir maintenant ce qui est prêt, et le reste plus tard ?",
        "button.ship_ready": "Envoyer ce qui est prêt",
        "done.ship_ready": "C'est noté — ce qui est prêt part maintenant.",
        "done.body": (
            "{store} a reçu votre demande et va {choice}. Vous recevrez une réponse par e-mail."
        ),
        "chosen.title": "Vous avez déjà demandé à {store} de {choice}.",
        "chosen.body": "Pour attendre votre commande plutôt, appuyez sur le bouton.",
        "button.wait": "Continuer à attendre ma commande",
        "bad.title": "Ce lien ne fonctionne pas",
        "bad.body": (
            "Ce lien est incomplet ou non valide, rien n'a donc été enregistré. Il a peut-être "
            "été coupé lors d'un copier-coller : ouvrez-le à nouveau depuis l'e-mail, ou "
            "répondez à un e-mail de {store}."
        ),
        "expired.title": "Ce lien a expiré",
        "expired.body": (
            "Les liens de nos e-mails sont valables {days} jours, rien n'a donc été "
            "enregistré. Répondez à un e-mail de {store} et nous vous aiderons."
        ),
        "unknown.body": (
            "Nous ne retrouvons pas l'e-mail de ce lien, rien n'a donc été enregistré. "
            "Répondez à un e-mail de {store} et nous vous aiderons."
        ),
        "not_a_choice": "Cette réponse ne fait pas partie des choix, rien n'a été enregistré.",
        "unavailable.title": "Veuillez réessayer dans une minute",
        "unavailable.body": (
            "Nous n'avons pas pu enregistrer votre réponse, rien n'a donc encore changé. "
            "Ouvrez à nouveau le lien de l'e-mail dans une minute."
        ),
    },
}

PAGE_LANGUAGES: tuple[str, ...] = tuple(TEXT)


def page_language(*candidates: str | None) -> str:
    """The first candidate locale (``de-AT``, ``fr_CA``, ``en``) whose language the pages
    speak, else English."""
    for candidate in candidates:
        if candidate:
            language = candidate.replace("_", "-").split("-", 1)[0].lower()
            if language in TEXT:
                return language
    return FALLBACK


def words(language: str, name: str, **values: str) -> str:
    """Message ``name`` in ``language`` (English when it has none), filled in."""
    template = TEXT.get(language, {}).get(name) or TEXT[FALLBACK][name]
    return template.format(**values) if values else template
